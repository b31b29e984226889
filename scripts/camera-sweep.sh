#!/usr/bin/env bash
# Kum et al.'s setting, simulated: N cameras at 30 fps of one classifier, each frame due one frame
# interval (33.3 ms) after it arrives; how many cameras does each policy serve with fewer than 1 %
# of frames late? Prints, per policy, the largest N (in steps of STEP) before the first N that
# misses the bound, and the miss rate at each N tried.
#
#   scripts/camera-sweep.sh [DEVICE] [MODEL] [POLICIES]
#   DURATION_S=10 SEED=3 STEP=2 MAX=70 scripts/camera-sweep.sh jetson-xavier-nx resnet50
#   BENCH=path/to/cosched-bench scripts/camera-sweep.sh   # another build, side by side
set -euo pipefail
cd "$(dirname "$0")/.."
device="${1:-jetson-xavier-nx}"
model="${2:-resnet50}"
policies="${3:-batch1:earliest-finish,earliest-finish,kum,triton-batcher,drl}"
duration="${DURATION_S:-10}"
seed="${SEED:-3}"
step="${STEP:-2}"
max="${MAX:-70}"
[ -n "${BENCH:-}" ] || cargo build --release -q -p cosched-bench
bench="${BENCH:-target/release/cosched-bench}"
dir="$(mktemp -d)"
trap 'rm -rf "$dir"' EXIT
for ((n = step; n <= max; n += step)); do
    {
        printf 'name = "cameras-%d"\nduration_s = %s\n' "$n" "$duration"
        for ((i = 0; i < n; i++)); do
            printf '[[stream]]\nname = "cam%d"\nmodel = "%s"\narrival = "periodic"\nrate_hz = 30.0\nslo_ms = 33.3\n' "$i" "$model"
        done
    } > "$dir/cam$n.toml"
    "$bench" compare --device "$device" --workload "$dir/cam$n.toml" --seed "$seed" \
        --policies "$policies" --json "$dir/r$n.json" > /dev/null
done
python3 - "$dir" "$step" "$max" <<'PY'
import json, sys
d, step, top = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = {}
for n in range(step, top + 1, step):
    for r in json.load(open(f"{d}/r{n}.json")):
        assert r["arrived"] == r["completed"] + r["unfinished"], "every arrival counted once"
        rows.setdefault(r["policy"], []).append((n, r["slo_violation_rate"], r["actions"]["mean_batch"]))
print(f"{'policy':<28} {'cameras served (<1% late)':>26} {'mean batch there':>17}")
for p, runs in rows.items():
    served, batch = 0, 0.0
    for n, v, b in runs:
        if v >= 0.01:
            break
        served, batch = n, b
    print(f"{p:<28} {served:>26} {batch:>17.2f}")
PY
