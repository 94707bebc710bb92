#!/usr/bin/env bash
# Where SET -P 1's CPU goes: Orbit's three nodes against Redis with
# fsync-always, per request, in one run on this machine.
#
# Starts a 3-node Orbit cluster and a redis-server with `appendonly yes,
# appendfsync always` (as bench/redis_compare.sh does), runs
# `redis-benchmark -c 50 -n N -t set -P 1` against each, and reads the CPU
# time every server process and the benchmark client used (user + system,
# from /proc and bash's `time`) and how busy the machine's cores were (from
# /proc/stat). Prints, per round and as medians:
#   - requests/s;
#   - CPU µs per SET of each process (Orbit's leader and followers, their
#     sum; Redis; the client);
#   - the cores the machine had busy during the run;
#   - the cores Orbit and its client would need to run at Redis's rate with
#     the CPU per SET measured here: (Orbit's sum + client) x Redis's rate.
# The last figure, set against the machine's cores, is what bounds Orbit's
# SET -P 1 ratio on a machine that hosts all three nodes and the client.
#
# Usage: bash bench/cpu_per_set.sh [requests [rounds]]   (default 200000 3)
# Needs redis-server and redis-benchmark (apt-get install redis-server).
# shellcheck source=bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/cluster.sh

REQUESTS=${1:-200000}
ROUNDS=${2:-3}
CLIENTS=50
bench_workdir orbit-cpu

require_redis_tools

cargo build --release --bin orbit-server --quiet
BIN=target/release/orbit-server

ORBIT_RESP=(17001 17002 17003)
ORBIT_RAFT=(17101 17102 17103)
REDIS_FSYNC=17201

start_cluster "${ORBIT_RESP[@]}" "${ORBIT_RAFT[@]}"
ORBIT_PIDS=("${PIDS[@]}")
start_redis_fsync "$REDIS_FSYNC"
wait_for_ping "${ORBIT_RESP[@]}" "$REDIS_FSYNC"
LEADER=$(find_leader "${ORBIT_RESP[@]}")

TICK=$(getconf CLK_TCK)
# CPU ticks (user + system) a process has used, all its threads. The
# fields after the command name (which may hold spaces: redis-server's
# does), so utime and stime are the 12th and 13th.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# busy and total ticks of all cores so far
cores() { awk '$1 == "cpu" { idle = $5 + $6; total = 0; for (i = 2; i <= NF; i++) total += $i; print total - idle, total }' /proc/stat; }

# run PORT PID...: one SET -P 1 run against PORT; prints requests/s, the
# client's CPU seconds, the busy cores, then each PID's CPU seconds.
run() {
    local port=$1
    shift
    local before=() after=() pid busy0 total0 busy1 total1 timing rate
    for pid in "$@"; do before+=("$(ticks "$pid")"); done
    read -r busy0 total0 < <(cores)
    timing=$(mktemp)
    rate=$( { TIMEFORMAT='%U %S'; time redis-benchmark -p "$port" -c "$CLIENTS" -n "$REQUESTS" \
        -t set -P 1 --csv -q 2>/dev/null; } 2>"$timing" | tr -d '"' | awk -F, '$1 == "SET" { printf "%d", $2 }')
    read -r busy1 total1 < <(cores)
    for pid in "$@"; do after+=("$(ticks "$pid")"); done
    local i out
    out="$rate $(awk '{ print $1 + $2 }' "$timing")"
    out="$out $(awk -v b=$((busy1 - busy0)) -v t=$((total1 - total0)) -v n="$(nproc)" 'BEGIN { printf "%.2f", (t > 0 ? b / t * n : 0) }')"
    for i in "${!before[@]}"; do
        out="$out $(awk -v d=$((after[i] - before[i])) -v k="$TICK" 'BEGIN { printf "%.3f", d / k }')"
    done
    rm -f "$timing"
    echo "$out"
}

us() { awk -v s="$1" -v n="$REQUESTS" 'BEGIN { printf "%.1f", s * 1e6 / n }'; }
median() { printf "%s\n" "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

declare -A COL
names=(orbit_rate orbit_busy leader follower_a follower_b orbit_sum orbit_client redis_rate redis_busy redis redis_client cores_needed)
for round in $(seq 1 "$ROUNDS"); do
    # The leader first, then the followers, whichever nodes they are.
    ordered=()
    for i in 0 1 2; do [ "${ORBIT_RESP[$i]}" = "$LEADER" ] && ordered=("${ORBIT_PIDS[$i]}"); done
    for i in 0 1 2; do [ "${ORBIT_RESP[$i]}" != "$LEADER" ] && ordered+=("${ORBIT_PIDS[$i]}"); done
    read -r rate client busy l fa fb < <(run "$LEADER" "${ordered[@]}")
    COL[orbit_rate,$round]=$rate
    COL[orbit_busy,$round]=$busy
    COL[leader,$round]=$(us "$l")
    COL[follower_a,$round]=$(us "$fa")
    COL[follower_b,$round]=$(us "$fb")
    COL[orbit_sum,$round]=$(us "$(awk -v a="$l" -v b="$fa" -v c="$fb" 'BEGIN { print a + b + c }')")
    COL[orbit_client,$round]=$(us "$client")
    read -r rate client busy r < <(run "$REDIS_FSYNC" "$REDIS_FSYNC_PID")
    COL[redis_rate,$round]=$rate
    COL[redis_busy,$round]=$busy
    COL[redis,$round]=$(us "$r")
    COL[redis_client,$round]=$(us "$client")
    COL[cores_needed,$round]=$(awk -v o="${COL[orbit_sum,$round]}" -v c="${COL[orbit_client,$round]}" -v r="$rate" \
        'BEGIN { printf "%.2f", (o + c) * r / 1e6 }')
done

echo
echo "SET -P 1, redis-benchmark -c $CLIENTS -n $REQUESTS, $(nproc) cores, one machine"
echo "CPU per SET in µs (user + system, every thread of the process)"
echo
printf "| %-12s |" round
for name in "${names[@]}"; do printf " %s |" "$name"; done
echo
printf "|---|"
for _ in "${names[@]}"; do printf -- "---|"; done
echo
for round in $(seq 1 "$ROUNDS"); do
    printf "| %-12s |" "$round"
    for name in "${names[@]}"; do printf " %s |" "${COL[$name,$round]}"; done
    echo
done
printf "| %-12s |" median
for name in "${names[@]}"; do
    all=()
    for round in $(seq 1 "$ROUNDS"); do all+=("${COL[$name,$round]}"); done
    printf " %s |" "$(median "${all[@]}")"
done
echo
echo
echo "orbit_busy / redis_busy: cores busy during the run (all processes, kernel threads too)"
echo "cores_needed: cores Orbit's nodes and client would use at Redis's rate, against $(nproc) here"
