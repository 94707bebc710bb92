#!/usr/bin/env bash
# Orbit against Redis, side by side, in one run on this machine.
#
# Starts a 3-node Orbit cluster (every write fsynced on a quorum before the
# reply), a redis-server with `appendonly yes, appendfsync always`, and a
# redis-server without persistence; runs
# `redis-benchmark -c 50 -n 200000 -t set,get` with -P 1 and -P 16 against
# each; prints every figure and Orbit's ratios to the anchors.
#
# Targets (issue 4): SET >= 1.0x Redis fsync-always, GET >= 0.7x Redis without
# persistence, pipelined SET >= 0.5x Redis fsync-always.
#
# Usage: bash bench/redis_compare.sh [requests [rounds]]
#   requests: per run (default 200000)
#   rounds:   how many times to run every test against all three (default
#             1); with more, each figure and each ratio printed is the median
#             over the rounds (a ratio's median is taken over the rounds'
#             ratios, each from runs back to back), which tames a shared,
#             noisy machine.
# Needs redis-server and redis-benchmark (apt-get install redis-server).
set -euo pipefail

cd "$(dirname "$0")/.."
REQUESTS="${1:-200000}"
ROUNDS="${2:-1}"
CLIENTS=50
# shellcheck source=bench/cluster.sh
source bench/cluster.sh
bench_workdir orbit-bench

require_redis_tools

cargo build --release --bin orbit-server --quiet
BIN=target/release/orbit-server

# Ports well away from the defaults, so a running Redis or Orbit is left alone.
ORBIT_RESP=(17001 17002 17003)
ORBIT_RAFT=(17101 17102 17103)
REDIS_FSYNC=17201
REDIS_MEMORY=17202

start_cluster "${ORBIT_RESP[@]}" "${ORBIT_RAFT[@]}"

start_redis_fsync "$REDIS_FSYNC"
redis-server --port "$REDIS_MEMORY" --dir "$WORK" --save '' --appendonly no \
    --daemonize no --logfile "$WORK/redis-memory.log" &
PIDS+=($!)

wait_for_ping "${ORBIT_RESP[@]}" "$REDIS_FSYNC" "$REDIS_MEMORY"

# The Orbit leader: clients of a follower pay a forwarding hop; the figures
# below are for clients of the leader, as for Redis's one server.
LEADER=$(find_leader "${ORBIT_RESP[@]}")

# requests/s of one test (set|get) at one pipeline depth against one port.
measure() {
    local port=$1 test=$2 pipeline=$3
    redis-benchmark -p "$port" -c "$CLIENTS" -n "$REQUESTS" -t "$test" -P "$pipeline" --csv -q 2>/dev/null \
        | tr -d '"' | awk -F, -v t="${test^^}" '$1 == t { printf "%d", $2 }'
}

declare -A FIG
for round in $(seq 1 "$ROUNDS"); do
    for pipeline in 1 16; do
        for test in set get; do
            FIG[orbit,$test,$pipeline,$round]=$(measure "$LEADER" "$test" "$pipeline")
            FIG[fsync,$test,$pipeline,$round]=$(measure "$REDIS_FSYNC" "$test" "$pipeline")
            FIG[memory,$test,$pipeline,$round]=$(measure "$REDIS_MEMORY" "$test" "$pipeline")
        done
    done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# median of the numbers given as arguments
median() { printf "%s\n" "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# the median over rounds of one server's figure
fig() { local all=() r; for r in $(seq 1 "$ROUNDS"); do all+=("${FIG[$1,$2,$3,$r]}"); done; median "${all[@]}"; }
# Orbit's ratio to one anchor in every round
ratios() { local r; for r in $(seq 1 "$ROUNDS"); do ratio "${FIG[orbit,$2,$3,$r]}" "${FIG[$1,$2,$3,$r]}"; echo; done; }
# ... and their median
ratio_of() { local all; mapfile -t all < <(ratios "$@"); median "${all[@]}"; }

echo
echo "redis-benchmark -c $CLIENTS -n $REQUESTS, requests per second ($(nproc) cores, one machine)"
if [ "$ROUNDS" -gt 1 ]; then
    echo "medians over $ROUNDS rounds (each round runs every test against all three back to back)"
fi
echo
printf "| %-8s | %-2s | %12s | %20s | %18s | %14s | %14s |\n" test P "orbit (3 nodes)" "redis fsync-always" "redis no persist" "orbit/fsync" "orbit/no-pers."
printf "|%s|\n" "----------|----|-----------------|----------------------|--------------------|----------------|----------------"
for pipeline in 1 16; do
    for test in set get; do
        printf "| %-8s | %-2s | %15s | %20s | %18s | %14s | %14s |\n" "$test" "$pipeline" \
            "$(fig orbit "$test" "$pipeline")" "$(fig fsync "$test" "$pipeline")" "$(fig memory "$test" "$pipeline")" \
            "$(ratio_of fsync "$test" "$pipeline")" "$(ratio_of memory "$test" "$pipeline")"
    done
done
echo
target() {
    local median
    median=$(ratio_of "$1" "$2" "$3")
    if [ "$ROUNDS" -gt 1 ]; then echo "$median; rounds: $(ratios "$@" | tr '\n' ' ' | sed 's/ $//')"; else echo "$median"; fi
}
echo "targets: SET P1 orbit/fsync >= 1.0 ($(target fsync set 1)),"
echo "         GET P1 orbit/no-persistence >= 0.7 ($(target memory get 1)),"
echo "         SET P16 orbit/fsync >= 0.5 ($(target fsync set 16))"
