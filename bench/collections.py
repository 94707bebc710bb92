#!/usr/bin/env python3
"""Per-operation cost of one collection as it grows, Orbit beside Redis.

Grows one sorted set, one hash, one set and one list, step by step, to each
size asked for (default 1k, 100k, 1M, 10M elements), in batches of 1,000
elements per command. At every size it times two operations per kind, each
`OPS` times on one connection, pipelined `DEPTH` deep (so the figure is the
server's cost per operation more than the round trip):

    zset  ZADD of a new member (random score)   ZSCORE of a random member
    hash  HSET of a new field                   HGET of a random field
    set   SADD of a new member                  SISMEMBER of a random member
    list  RPUSH of a new item                   LINDEX at a random index

and prints microseconds per operation for Orbit and for Redis, and their
ratio. The cost is flat when the figure at 10M is the figure at 1k.

Used by bench/collections.sh, which starts the servers; needs redis-py.
Usage: collections.py ORBIT_PORT REDIS_PORT [max_size [kinds]]
  kinds: comma-separated, of zset,hash,set,list (default all, in that order)
"""

import random
import sys
import time

import redis

SIZES = [1_000, 100_000, 1_000_000, 10_000_000]
BATCH = 1_000
OPS = 20_000
DEPTH = 100
# Elements of the operations timed are named apart from the loaded ones.
rng = random.Random(20261205)


def member(n):
    return b"member:%010d" % n


def grow(client, kind, start, end):
    """Adds elements start..end to the collection of `kind`."""
    pipe = client.pipeline(transaction=False)
    queued = 0
    for first in range(start, end, BATCH):
        last = min(first + BATCH, end)
        if kind == "zset":
            pipe.zadd("z", {member(n): rng.random() * 1e9 for n in range(first, last)})
        elif kind == "hash":
            pipe.hset("h", mapping={member(n): b"v%d" % n for n in range(first, last)})
        elif kind == "set":
            pipe.sadd("s", *[member(n) for n in range(first, last)])
        else:
            pipe.rpush("l", *[member(n) for n in range(first, last)])
        queued += 1
        if queued == 10:
            pipe.execute()
            queued = 0
    pipe.execute()


def operations(kind, size, fresh):
    """The write and the read timed at `size` elements: (name, commands)."""
    new = [b"new:%d:%010d" % (size, fresh + i) for i in range(OPS)]
    old = [member(rng.randrange(size)) for _ in range(OPS)]
    if kind == "zset":
        return [("ZADD", [("ZADD", "z", rng.random() * 1e9, m) for m in new]),
                ("ZSCORE", [("ZSCORE", "z", m) for m in old])]
    if kind == "hash":
        return [("HSET", [("HSET", "h", m, b"v") for m in new]),
                ("HGET", [("HGET", "h", m) for m in old])]
    if kind == "set":
        return [("SADD", [("SADD", "s", m) for m in new]),
                ("SISMEMBER", [("SISMEMBER", "s", m) for m in old])]
    return [("RPUSH", [("RPUSH", "l", m) for m in new]),
            ("LINDEX", [("LINDEX", "l", rng.randrange(size)) for _ in range(OPS)])]


def timed(client, commands):
    """Microseconds per command, run DEPTH at a time."""
    began = time.perf_counter()
    for at in range(0, len(commands), DEPTH):
        pipe = client.pipeline(transaction=False)
        for command in commands[at:at + DEPTH]:
            pipe.execute_command(*command)
        pipe.execute()
    return (time.perf_counter() - began) * 1e6 / len(commands)


def main():
    orbit = redis.Redis(port=int(sys.argv[1]), socket_timeout=600)
    anchor = redis.Redis(port=int(sys.argv[2]), socket_timeout=600)
    top = int(sys.argv[3]) if len(sys.argv) > 3 else SIZES[-1]
    sizes = [size for size in SIZES if size <= top]
    kinds = sys.argv[4].split(",") if len(sys.argv) > 4 else ["zset", "hash", "set", "list"]
    print(f"{'kind':<5} {'size':>10} {'op':<10} {'orbit us/op':>12} {'redis us/op':>12} {'ratio':>7}")
    for kind in kinds:
        loaded = 0
        for step, size in enumerate(sizes):
            began = time.perf_counter()
            for client in (orbit, anchor):
                grow(client, kind, loaded, size)
            load_s = time.perf_counter() - began
            loaded = size
            for name, commands in operations(kind, size, step * OPS):
                ours = timed(orbit, commands)
                theirs = timed(anchor, commands)
                print(f"{kind:<5} {size:>10} {name:<10} {ours:>12.1f} {theirs:>12.1f} "
                      f"{ours / theirs:>7.2f}", flush=True)
            print(f"      (loading to {size} took {load_s:.1f} s for both)", flush=True)


if __name__ == "__main__":
    main()
