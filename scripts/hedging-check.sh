#!/usr/bin/env bash
# Hedging, simulated, on two test profiles (modelled, not measured), each a board GPU and an edge
# GPU of similar speed and a slow CPU: `noisy-gpu-pair`, whose GPUs have a lognormal latency of
# cv 0.6 and run one inference at a time, and `stalling-gpu-pair`, whose GPUs (cv 0.3) stall one
# inference in thirty at 8x (overall cv 1.0) and run two at a time. Compares placements with
# and without hedged copies (MDInference's rule, backup requests for the slow tail) at each
# load: p99, violations, objective, and what the copies cost.
#
#   scripts/hedging-check.sh [LOADS] [POLICIES] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
loads="${1:-0.5,0.8,0.95}"
policies="${2:-earliest-finish,hedge:earliest-finish,hedge-tail:earliest-finish,least-slack,hedge-tail:least-slack}"
seed="${3:-1}"
cargo build --release -q -p cosched-bench
bench=target/release/cosched-bench
IFS=, read -ra ls <<< "$loads"
for profile in noisy-gpu-pair stalling-gpu-pair; do
    for load in "${ls[@]}"; do
        echo "$profile, load $load"
        "$bench" compare --device "devices/hedging/$profile.toml" --workload workloads/hedging/classify.toml --load "$load" \
            --seed "$seed" --policies "$policies" | tail -n +3
    done
done
