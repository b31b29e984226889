#!/usr/bin/env bash
# The DRL table of README.md: the pretrained balanced policy of every device against every
# baseline, on every built-in workload at 50 %, 80 % and 95 % load (simulated, seeds 1 and 2).
# Writes docs/drl-evaluation.md and docs/drl-evaluation.json.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p cosched-bench
target/release/cosched-bench evaluate --policy drl --loads 0.5,0.8,0.95 --seeds 1,2 \
    --markdown docs/drl-evaluation.md --json docs/drl-evaluation.json
