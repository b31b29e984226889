#!/usr/bin/env bash
# Reproduce the pretrained policies in policies/: a balanced policy for every device profile in
# devices/, and latency and energy policies for jetson-agx-orin and android-flagship. Training
# is deterministic for a given seed; each policy takes a few minutes on a 2-core machine.
#
#   scripts/train-policies.sh            # all of them
#   scripts/train-policies.sh host-cpu   # only the policies of one device
#
# Then `scripts/evaluate-policies.sh` rebuilds the table in README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p cosched-bench
bench=target/release/cosched-bench
only="${1:-}"
seed=7
train() {
    local device="$1" objective="$2"
    [[ -n "${only}" && "${only}" != "${device}" ]] && return 0
    echo "== ${device} ${objective}"
    rm -rf "policies/${device}-${objective}.policy"
    "${bench}" train --device "${device}" --objective "${objective}" --seed "${seed}" \
        --out "policies/${device}-${objective}.policy"
}
for device in jetson-agx-orin jetson-orin-nano jetson-xavier-nx android-flagship host-cpu; do
    train "${device}" balanced
done
for device in jetson-agx-orin android-flagship; do
    train "${device}" latency
    train "${device}" energy
done
