#!/usr/bin/env bash
# Memory: 1 million small keys on a 3-node Orbit cluster, resident set size
# per node. Target (issue 4): under 300 MiB resident per node.
#
# Loads SET key:N value:N for N in 0..KEYS through `redis-cli --pipe` into
# the leader, waits until every node has applied it all, then prints each
# node's VmRSS (and VmHWM, the peak) from /proc.
#
# Usage: bash bench/memory.sh [keys]   (default 1000000)
set -euo pipefail

cd "$(dirname "$0")/.."
KEYS="${1:-1000000}"
# shellcheck source=bench/cluster.sh
source bench/cluster.sh
bench_workdir orbit-memory

command -v redis-cli >/dev/null || { echo "redis-cli is missing (apt-get install redis-tools)"; exit 1; }
cargo build --release --bin orbit-server --quiet
BIN=target/release/orbit-server

RESP=(17301 17302 17303)
RAFT=(17401 17402 17403)
start_cluster "${RESP[@]}" "${RAFT[@]}"

LEADER=$(find_leader "${RESP[@]}")

echo "loading $KEYS keys (SET key:N value:N) into the leader on port $LEADER"
started=$(date +%s)
awk -v n="$KEYS" 'BEGIN {
    for (i = 0; i < n; i++) {
        k = "key:" i; v = "value:" i;
        printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
    }
}' | redis-cli -p "$LEADER" --pipe >"$WORK/pipe.log" 2>&1 || { cat "$WORK/pipe.log"; exit 1; }
tail -1 "$WORK/pipe.log"
echo "loaded in $(( $(date +%s) - started )) s"

# Wait until every node applied everything (same state hash).
for _ in $(seq 1 600); do
    hashes=$(for port in "${RESP[@]}"; do redis-cli -p "$port" info raft | tr -d '\r' | grep '^state_hash:' | cut -d@ -f1; done | sort -u | wc -l)
    [ "$hashes" = 1 ] && break
    sleep 0.5
done

echo
printf "| node | keys (DBSIZE) | VmRSS MiB | VmHWM (peak) MiB |\n|---|---|---|---|\n"
for i in 1 2 3; do
    pid=${PIDS[$((i - 1))]}
    rss=$(awk '/^VmRSS:/ {print int($2/1024)}' "/proc/$pid/status")
    hwm=$(awk '/^VmHWM:/ {print int($2/1024)}' "/proc/$pid/status")
    keys=$(redis-cli -p "${RESP[$((i - 1))]}" dbsize)
    printf "| %s | %s | %s | %s |\n" "$i" "$keys" "$rss" "$hwm"
done
echo
echo "target: under 300 MiB resident per node"
