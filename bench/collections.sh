#!/usr/bin/env bash
# Per-operation cost of a sorted set, a hash, a set and a list as each grows
# to 10 million elements, Orbit beside Redis, in one run on this machine
# (issue 15: the cost must stay flat as a collection grows).
#
# Starts one Orbit node (every write fsynced before the reply) and a
# redis-server with `appendonly yes, appendfsync always`, then runs
# bench/collections.py against both; see there for what is timed.
#
# Usage: bash bench/collections.sh [max_size [kinds]]
#   max_size: default 10000000; kinds: e.g. zset,set (default all four)
# Needs redis-server, redis-cli and python3 with redis-py
# (apt-get install redis-server python3-redis).
set -euo pipefail

cd "$(dirname "$0")/.."
MAX="${1:-10000000}"
KINDS="${2:-zset,hash,set,list}"
# shellcheck source=bench/cluster.sh
source bench/cluster.sh
bench_workdir orbit-collections
require_redis_tools
python3 -c 'import redis' 2>/dev/null || { echo "python3 redis-py is missing (apt-get install python3-redis)"; exit 1; }

cargo build --release --bin orbit-server --quiet
BIN=target/release/orbit-server
ORBIT=17301
REDIS=17302

"$BIN" --data-dir "$WORK/orbit" --resp-addr "127.0.0.1:$ORBIT" --raft-addr 127.0.0.1:17311 \
    --log warn >"$WORK/orbit.log" 2>&1 &
PIDS+=($!)
start_redis_fsync "$REDIS"
wait_for_ping "$ORBIT" "$REDIS"

python3 bench/collections.py "$ORBIT" "$REDIS" "$MAX" "$KINDS"
echo "disk: $(du -sh "$WORK/orbit" | cut -f1) Orbit (log and state), $(du -sh "$WORK/appendonlydir" | cut -f1) Redis's AOF"
