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
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
cat > "$dir/noisy-gpu-pair.toml" <<'TOML'
name = "noisy-gpu-pair"
source = "test profile for hedging, modelled (no measurement): a board GPU and an edge GPU of similar speed, both with latency cv 0.6, and a slow CPU"
[[processor]]
id = "gpu"
kind = "gpu"
ep = "cuda"
slots = 1
idle_power_w = 1.0
busy_power_w = 15.0
[[processor]]
id = "edge"
kind = "gpu"
ep = "cuda"
slots = 1
idle_power_w = 0.0
busy_power_w = 5.0
[[processor]]
id = "cpu"
kind = "cpu"
ep = "cpu"
slots = 1
idle_power_w = 0.5
busy_power_w = 6.0
[[model]]
name = "resnet50"
memory_mb = 100.0
latency_ms = { gpu = 5.0, edge = 6.0, cpu = 60.0 }
latency_cv = { gpu = 0.6, edge = 0.6, cpu = 0.1 }
TOML
cat > "$dir/stalling-gpu-pair.toml" <<'TOML'
name = "stalling-gpu-pair"
source = "test profile for hedging, modelled (no measurement): a board GPU and an edge GPU of similar speed that run two inferences each and stall one inference in thirty at 8x (a time-sliced or throttled GPU), and a slow CPU"
[[processor]]
id = "gpu"
kind = "gpu"
ep = "cuda"
slots = 2
idle_power_w = 1.0
busy_power_w = 15.0
stall = { probability = 0.03, factor = 8.0 }
[[processor]]
id = "edge"
kind = "gpu"
ep = "cuda"
slots = 2
idle_power_w = 0.0
busy_power_w = 5.0
stall = { probability = 0.03, factor = 8.0 }
[[processor]]
id = "cpu"
kind = "cpu"
ep = "cpu"
slots = 1
idle_power_w = 0.5
busy_power_w = 6.0
[[model]]
name = "resnet50"
memory_mb = 100.0
latency_ms = { gpu = 5.0, edge = 6.0, cpu = 60.0 }
latency_cv = { gpu = 0.3, edge = 0.3, cpu = 0.1 }
TOML
cat > "$dir/classify.toml" <<'TOML'
name = "classify"
duration_s = 60.0
[[stream]]
name = "camera"
model = "resnet50"
arrival = "poisson"
rate_hz = 100.0
slo_factor = 4.0
TOML
IFS=, read -ra ls <<< "$loads"
for profile in noisy-gpu-pair stalling-gpu-pair; do
    for load in "${ls[@]}"; do
        echo "$profile, load $load"
        "$bench" compare --device "$dir/$profile.toml" --workload "$dir/classify.toml" --load "$load" \
            --seed "$seed" --policies "$policies" | tail -n +3
    done
done
