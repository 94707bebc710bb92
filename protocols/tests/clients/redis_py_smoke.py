"""redis-py against a running Orbit node, as a new user would use it.

Usage: python3 redis_py_smoke.py PORT
Exits non-zero with a message on the first mismatch.
"""
import sys

import redis


def check(protocol: int, port: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol, decode_responses=True)
    assert r.ping() is True
    assert r.set("py:k", "v") is True
    assert r.get("py:k") == "v"
    assert r.set("py:k", "w", nx=True) is None
    assert r.set("py:k", "w", xx=True, get=True) == "v"
    assert r.incr("py:n") == 1
    assert r.incrby("py:n", 41) == 42
    assert r.incrbyfloat("py:f", 1.5) == 1.5
    assert r.mset({"py:a": "1", "py:b": "2"}) is True
    assert r.mget("py:a", "py:missing", "py:b") == ["1", None, "2"]
    assert r.expire("py:a", 100) is True
    assert r.ttl("py:a") == 100
    assert r.persist("py:a") is True
    assert r.ttl("py:a") == -1
    assert r.exists("py:a", "py:b", "py:nope") == 2
    assert r.type("py:a") == "string"
    assert sorted(r.keys("py:[ab]")) == ["py:a", "py:b"]
    assert r.append("py:a", "23") == 3
    assert r.getrange("py:a", 0, 1) == "12"
    assert r.delete("py:a", "py:b") == 2
    assert r.rename("py:k", "py:k2") is True
    pipe = r.pipeline(transaction=False)
    for i in range(100):
        pipe.set(f"py:p{i}", i)
    pipe.get("py:p99")
    results = pipe.execute()
    assert results[-1] == "99", results[-1]
    try:
        r.incr("py:k2")
        raise AssertionError("INCR on a non-number succeeded")
    except redis.ResponseError as e:
        assert "not an integer" in str(e), str(e)
    info = r.info("raft")
    assert info["role"] == "leader", info
    assert r.client_setname("smoke") is True
    assert r.client_getname() == "smoke"
    assert r.dbsize() >= 100
    assert r.flushdb() is True
    assert r.dbsize() == 0


def main() -> None:
    port = int(sys.argv[1])
    for protocol in (2, 3):
        check(protocol, port)
    print("redis-py smoke: ok (RESP2 and RESP3)")


if __name__ == "__main__":
    main()
