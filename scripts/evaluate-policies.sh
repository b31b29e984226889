#!/usr/bin/env bash
# The DRL tables of README.md and docs/drl-evaluation.md: the pretrained balanced policies
# against the nine baselines, simulated, energy modelled.
#
#   - test family: 100 generated scenarios (seed 3800; nothing was chosen on it, see
#     docs/scenarios.md; seeds 3000 to 3700 were measured at earlier stops) x loads 0.5 / 0.8 /
#     0.95 on each of the four heterogeneous boards, for `drl` (guarded, as compare runs it),
#     `unguarded:drl` and its untrained prior (`unguarded:prior:drl`, the priced-objective
#     rule); 60 s cap per scenario, seed 1;
#   - the built-in workloads on every device at the same loads, seeds 1 and 2.
#
# Writes docs/drl-evaluation.md, docs/drl-evaluation.json, the summary between the
# `<!-- drl-table -->` markers of README.md and the `[test]` section of the four boards'
# balanced policy manifests. Runs JOBS (default 2) evaluations at a time; about
# an hour on a 2-core machine (jetson-agx-orin's guarded row is the longest).
#
#   scripts/evaluate-policies.sh
#   TEST_SEED=3200 COUNT=50 scripts/evaluate-policies.sh   # another test family
#   ONLY="jetson-xavier-nx" scripts/evaluate-policies.sh   # re-evaluate one board's policy,
#       keeping the other rows of the last run (same test family) in target/drl-evaluation
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p cosched-bench
bench=target/release/cosched-bench
jobs="${JOBS:-2}"
seed="${TEST_SEED:-3800}"
count="${COUNT:-100}"
out=target/drl-evaluation
boards="jetson-agx-orin jetson-orin-nano jetson-xavier-nx android-flagship"
family="random:${count}:${seed}"
if [ -n "${ONLY:-}" ]; then
    # The rows kept must come from the same test family.
    if [ "$(cat "${out}/family" 2>/dev/null)" != "${family}" ]; then
        echo "ONLY: ${out} holds no complete run of ${family}; run without ONLY first" >&2
        exit 2
    fi
    for d in ${ONLY}; do
        case " ${boards} host-cpu " in
        *" ${d} "*) rm -f "${out}"/*-"${d}"-* ;;
        *) echo "ONLY: unknown board ${d} (one of ${boards} host-cpu)" >&2; exit 2 ;;
        esac
    done
else
    rm -rf "${out}"
fi
mkdir -p "${out}"

{
    for d in ${boards}; do
        echo "test ${d} drl"
        echo "test ${d} unguarded:drl"
        # The untrained prior of the shipped policy (its output heads zeroed), alone.
        echo "test ${d} unguarded:prior:drl"
    done
    for d in ${boards} host-cpu; do
        echo "builtin ${d} drl"
    done
} | while read -r kind device policy; do
    # Each evaluation's files are named by its tag; one already there (ONLY) is kept.
    tag=$(echo "${kind}-${device}-${policy}" | tr "/:" "__")
    [ -f "${out}/${tag}.json" ] || echo "${kind} ${device} ${policy} ${tag}"
done | xargs -P "${jobs}" -L 1 sh -c '
    set -e
    kind=$0 device=$1 policy=$2 tag=$3
    if [ "${kind}" = test ]; then
        set -- --scenarios "random:'"${count}"':'"${seed}"'" --seeds 1 --duration 60
    else
        set -- --seeds 1,2
    fi
    "'"${bench}"'" evaluate --policy "${policy}" --devices "${device}" --loads 0.5,0.8,0.95 "$@" \
        --json "'"${out}"'/${tag}.json" > "'"${out}"'/${tag}.txt" 2>&1
    echo "done: ${kind} ${device} ${policy}"
'

echo "${family}" > "${out}/family"
python3 scripts/drl_evaluation_tables.py "${out}" "${seed}" "${count}"
echo "updated README.md, docs/drl-evaluation.md, docs/drl-evaluation.json and the policies' [test] sections"
