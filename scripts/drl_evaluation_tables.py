#!/usr/bin/env python3
"""Tables of scripts/evaluate-policies.sh: reads the JSON cases that `cosched-bench evaluate`
wrote into DIR and writes docs/drl-evaluation.md, docs/drl-evaluation.json, the summary
between the `<!-- drl-table -->` markers of README.md and the `[test]` section of each tested
policy's manifest (policies/BOARD-balanced.policy/manifest.toml).

Usage: drl_evaluation_tables.py DIR TEST_SEED COUNT
       drl_evaluation_tables.py --manifests TEST_SEED COUNT   # the manifests only, from
                                                              # docs/drl-evaluation.json
"""
import json
import math
import pathlib
import re
import sys

BOARDS = ["jetson-agx-orin", "jetson-orin-nano", "jetson-xavier-nx", "android-flagship"]


def load(out, family, device, policy):
    tag = f"{family}-{device}-{policy}".replace("/", "_").replace(":", "_")
    return json.loads((out / f"{tag}.json").read_text())


def summary(cases):
    """No worse within 1 %, worst ratio (and case), mean gain at load >= 0.8, cases > 10 % worse."""
    n = len(cases)
    within = sum(c["improvement"] >= -0.01 for c in cases)
    worst = min(cases, key=lambda c: c["improvement"])
    heavy = [c["improvement"] for c in cases if c["load"] >= 0.8 - 1e-9]
    gain = sum(heavy) / len(heavy) if heavy else 0.0
    clear = sum(c["improvement"] < -0.10 for c in cases)
    return {
        "n": n,
        "within": within,
        "worst": 1.0 - worst["improvement"],
        "worst_case": f'{worst["workload"]} at {worst["load"]:.2f} vs {worst["best_baseline"]}',
        "gain": gain,
        "clear": clear,
    }


def versus(cases, reference):
    """Geometric mean of the objective over the reference's at load >= 0.8, and cases lower / higher."""
    ref = {(c["workload"], c["load"]): c["policy_objective"] for c in reference}
    ratios = [
        c["policy_objective"] / ref[(c["workload"], c["load"])]
        for c in cases
        if c["load"] >= 0.8 - 1e-9 and ref[(c["workload"], c["load"])] > 0
    ]
    gm = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
    lower = sum(r < 1 - 1e-9 for r in ratios)
    higher = sum(r > 1 + 1e-9 for r in ratios)
    return gm, lower, higher


def row(label, s, vs=""):
    return (
        f'| {label} | {s["within"]}/{s["n"]} ({100 * s["within"] / s["n"]:.0f} %) | '
        f'{s["worst"]:.2f}x | {100 * s["gain"]:+.1f} % | {s["clear"]} | {vs} |'
    )


def toml_summary(table, s):
    return [
        f"[test.{table}]",
        f'cases = {s["n"]}',
        f'no_worse = {s["within"]}',
        f'worse_by_10_percent = {s["clear"]}',
        f'worst_ratio = {round(s["worst"], 4)!r}',
        f'worst_case = {json.dumps(s["worst_case"])}',
        f'mean_gain_heavy = {round(s["gain"], 4)!r}',
        "",
    ]


def record_in_manifests(all_cases, seed, count):
    """The `[test]` section of each board's balanced policy: replaces the one there, if any
    (it is the manifest's last section, see `Manifest::test`)."""
    for d in BOARDS:
        def of(policy):
            return [c for c in all_cases if c["family"] == "test" and c["device"] == d and c["policy"] == policy]

        guarded, alone, prior = of("drl"), of("unguarded:drl"), of("prior")
        gm, lower, higher = versus(alone, prior)
        loads = sorted({c["load"] for c in guarded})
        path = pathlib.Path(f"policies/{d}-balanced.policy/manifest.toml")
        text = path.read_text()
        cut = re.search(r"^\[test[\].]", text, flags=re.M)
        if cut:
            text = text[: cut.start()]
        lines = [
            "[test]",
            f'command = "TEST_SEED={seed} COUNT={count} scripts/evaluate-policies.sh"',
            f'scenarios = "random:{count}:{seed}"',
            f"loads = [{', '.join(repr(x) for x in loads)}]",
            "",
        ]
        lines += toml_summary("guarded", summary(guarded))
        lines += toml_summary("unguarded", summary(alone))
        lines += toml_summary("prior", summary(prior))
        lines += [
            "[test.unguarded_vs_prior]",
            f"geometric_mean = {round(gm, 4)!r}",
            f"lower = {lower}",
            f"higher = {higher}",
        ]
        path.write_text(text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")


def main():
    if sys.argv[1] == "--manifests":
        cases = json.loads(pathlib.Path("docs/drl-evaluation.json").read_text())
        record_in_manifests(cases, sys.argv[2], sys.argv[3])
        return
    out = pathlib.Path(sys.argv[1])
    seed, count = sys.argv[2], sys.argv[3]
    all_cases = []
    lines = [
        f"Test family `random:{count}:{seed}` ({count} generated scenarios per board x loads "
        "0.5 / 0.8 / 0.95, 60 s cap, seed 1; nothing was chosen on it), simulated, energy "
        "modelled. Per policy: cases no worse than the best of the nine baselines (within 1 %), "
        "the worst ratio to it, the mean gain over it at loads >= 0.8, cases more than 10 % "
        "worse, and the geometric mean of the objective against the untrained priced-objective "
        "prior at loads >= 0.8 (cases lower / higher).",
        "",
        "| board / policy | no worse | worst | gain at >= 0.8 | > 10 % worse | vs prior |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for d in BOARDS:
        guarded = load(out, "test", d, "drl")
        alone = load(out, "test", d, "unguarded:drl")
        prior = load(out, "test", d, "unguarded:prior:drl")
        for label, cases in [("drl", guarded), ("unguarded:drl", alone), ("prior", prior)]:
            for c in cases:
                all_cases.append({"family": "test", "policy": label, **c})
        lines.append(f"| **{d}** | | | | | |")
        for label, cases in [("`drl` (guarded)", guarded), ("`unguarded:drl`", alone)]:
            gm, lo, hi = versus(cases, prior)
            lines.append(row(label, summary(cases), f"{gm:.3f} ({lo} / {hi})"))
        lines.append(row("untrained prior", summary(prior), "1"))
    lines += [
        "",
        "Built-in workloads (7 per device x the same loads, seeds 1 and 2; they shaped the "
        "design, so they are not a test):",
        "",
        "| device | no worse | worst | gain at >= 0.8 | > 10 % worse |",
        "|---|---:|---:|---:|---:|",
    ]
    for d in BOARDS + ["host-cpu"]:
        cases = load(out, "builtin", d, "drl")
        for c in cases:
            all_cases.append({"family": "builtin", "policy": "drl", **c})
        s = summary(cases)
        lines.append(
            f'| {d} | {s["within"]}/{s["n"]} | {s["worst"]:.2f}x | {100 * s["gain"]:+.1f} % | {s["clear"]} |'
        )
    table = "\n".join(lines)

    detail = [table, "", "## Worst case per board and policy (test family)", ""]
    for d in BOARDS:
        for label, pol in [("drl", "drl"), ("unguarded:drl", "unguarded:drl")]:
            s = summary(load(out, "test", d, pol))
            detail.append(f"- {d}, `{label}`: {s['worst']:.2f}x, {s['worst_case']}")
    pathlib.Path("docs/drl-evaluation.md").write_text(
        "# DRL evaluation\n\nWritten by `scripts/evaluate-policies.sh`; every case is in "
        "docs/drl-evaluation.json.\n\n" + "\n".join(detail) + "\n"
    )
    pathlib.Path("docs/drl-evaluation.json").write_text(json.dumps(all_cases, indent=1) + "\n")
    readme = pathlib.Path("README.md").read_text()
    start, end = "<!-- drl-table -->", "<!-- /drl-table -->"
    block = f"{start}\n{table}\n{end}"
    readme = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, readme, flags=re.S)
    pathlib.Path("README.md").write_text(readme)
    record_in_manifests(all_cases, seed, count)


if __name__ == "__main__":
    main()
