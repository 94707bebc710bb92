# Helpers the bench scripts source: a scratch directory whose processes
# stop on exit, and a local 3-node Orbit cluster.

# bench_workdir PREFIX: makes WORK, a scratch directory, and PIDS; on exit
# every process in PIDS is stopped and WORK removed. start_cluster needs BIN
# (the orbit-server binary) and extends PIDS.
bench_workdir() {
    WORK="$(mktemp -d "/tmp/$1.XXXXXX")"
    PIDS=()
    trap bench_cleanup EXIT
}

bench_cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

# start_cluster RESP1 RESP2 RESP3 RAFT1 RAFT2 RAFT3: founds a 3-node cluster.
# Three nodes share this machine's cores, so each runs one worker thread
# (ORBIT_THREADS overrides): with tokio's default of one per core, GET fell
# from 88k/s to 73k/s on 2 cores.
start_cluster() {
    local resp=("$1" "$2" "$3") raft=("$4" "$5" "$6") peers=() i
    for i in 1 2 3; do peers+=(--peer "$i=127.0.0.1:${raft[$((i - 1))]}"); done
    for i in 1 2 3; do
        "$BIN" --node-id "$i" --data-dir "$WORK/orbit-$i" \
            --resp-addr "127.0.0.1:${resp[$((i - 1))]}" \
            --raft-addr "127.0.0.1:${raft[$((i - 1))]}" \
            "${peers[@]}" --cluster-secret bench-cluster --threads "${ORBIT_THREADS:-1}" --log warn >"$WORK/orbit-$i.log" 2>&1 &
        PIDS+=($!)
    done
}

# find_leader PORT...: prints the RESP port of the node that leads, waiting
# up to 20 s for an election; fails if none does.
find_leader() {
    local port
    for _ in $(seq 1 200); do
        for port in "$@"; do
            if redis-cli -p "$port" info raft 2>/dev/null | tr -d '\r' | grep -q '^role:leader$'; then
                echo "$port"
                return 0
            fi
        done
        sleep 0.1
    done
    echo "the Orbit cluster elected no leader" >&2
    return 1
}

# require_redis_tools: fails unless redis-server, redis-benchmark and
# redis-cli are installed.
require_redis_tools() {
    local tool
    for tool in redis-server redis-benchmark redis-cli; do
        command -v "$tool" >/dev/null || { echo "$tool is missing (apt-get install redis-server)"; exit 1; }
    done
}

# start_redis_fsync PORT: a redis-server with appendonly yes, appendfsync
# always, in WORK; extends PIDS and sets REDIS_FSYNC_PID.
start_redis_fsync() {
    redis-server --port "$1" --dir "$WORK" --dbfilename fsync.rdb --save '' \
        --appendonly yes --appendfsync always --appendfilename fsync.aof \
        --daemonize no --logfile "$WORK/redis-fsync.log" &
    REDIS_FSYNC_PID=$!
    PIDS+=("$REDIS_FSYNC_PID")
}

# wait_for_ping PORT...: waits up to 10 s for each to answer PING.
wait_for_ping() {
    local port
    for port in "$@"; do
        for _ in $(seq 1 100); do
            if [ "$(redis-cli -p "$port" ping 2>/dev/null)" = "PONG" ]; then continue 2; fi
            sleep 0.1
        done
        echo "port $port never answered PING"; exit 1
    done
}
