#!/usr/bin/env bash
# Simulator speed: simulated seconds per wall second and seeds per minute for
# 3-node, 30-simulated-second runs with every fault class. A benchmark, not a
# test: the figures depend on the machine. Target (issue 3): >= 30x real time
# and >= 100 seeds per minute.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${SEEDS:-1..101}
RUSTFLAGS="--cfg madsim" cargo build --release -p orbit-sim --target-dir target/sim --quiet
echo "orbit-sim --seeds $SEEDS --nodes 3 --duration 30 (release, $(nproc) cores)"
target/sim/release/orbit-sim --seeds "$SEEDS" --nodes 3 --duration 30 2>/dev/null | tail -4
