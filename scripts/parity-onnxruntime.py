#!/usr/bin/env python3
"""Closed-loop throughput of `cosched-bench run` against a plain Python onnxruntime thread pool.

What a user would write instead of cosched: one thread per CPU worker, each with its own
`onnxruntime.InferenceSession` (1 intra-op thread, as host-cpu's processors), calling `run` in a
loop on the same model file and the same library version. Both sides run back to back in
interleaved rounds (python, cosched, python, cosched, ...) so that background load on a shared
machine hits both alike, and the ratio is taken per round pair.

    python3 scripts/parity-onnxruntime.py [--models shufflenet,resnet50] [--rounds 3]
        [--secs 10] [--concurrency 2,4] [--device host-cpu] [--bin target/release/cosched-bench]

cosched runs a closed-only workload (`concurrency` requests always outstanding) through
`cosched-bench run --policy least-slack`; the Python pool has as many threads as the profile
has processors (2 on host-cpu), so the two match in threads, and at concurrency 2 also in
requests outstanding (the only setting where their p99 compare). Needs `pip install
onnxruntime==<the version of scripts/fetch-onnxruntime.sh> numpy`.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def python_pool(model_path, threads, secs):
    """Closed loop on `threads` threads, each with its own session; completions in the window."""
    import numpy as np
    import onnxruntime as ort

    ort.set_default_logger_severity(3)

    sessions = []
    for _ in range(threads):
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sessions.append(ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"]))
    inp = sessions[0].get_inputs()[0]
    shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
    x = np.random.default_rng(1).standard_normal(shape, dtype=np.float32)
    for s in sessions:
        for _ in range(3):
            s.run(None, {inp.name: x})
    latencies = [[] for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    stop = [0.0]

    def worker(i):
        s = sessions[i]
        barrier.wait()
        end = stop[0]
        out = latencies[i]
        while True:
            t0 = time.perf_counter()
            if t0 >= end:
                return
            s.run(None, {inp.name: x})
            t1 = time.perf_counter()
            if t1 <= end:
                out.append((t1 - t0) * 1000.0)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    start = time.perf_counter()
    stop[0] = start + secs
    barrier.wait()
    for t in ts:
        t.join()
    lat = sorted(l for per in latencies for l in per)
    return {
        "completed": len(lat),
        "secs": secs,
        "rps": len(lat) / secs,
        "p50_ms": percentile(lat, 0.50),
        "p99_ms": percentile(lat, 0.99),
    }


def percentile(sorted_values, q):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def cosched_run(binary, device, models_dir, model, concurrency, secs, workdir):
    workload = os.path.join(workdir, f"closed-{model}-{concurrency}.toml")
    with open(workload, "w") as f:
        f.write(
            f'name = "closed-{model}-{concurrency}"\nduration_s = {secs}\n'
            f'[[stream]]\nmodel = "{model}"\narrival = "closed"\nconcurrency = {concurrency}\nslo_factor = 100.0\n'
        )
    report = os.path.join(workdir, "report.json")
    cmd = [binary, "run", "--device", device, "--models", models_dir, "--workload", workload,
           "--policy", "least-slack", "--json", report]
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"cosched-bench run failed ({r.returncode}): {r.stderr.strip()}")
    with open(report) as f:
        rep = json.load(f)
    if rep["arrived"] != rep["completed"] or rep["mode"] != "real":
        sys.exit(f"cosched run lost requests: arrived {rep['arrived']}, completed {rep['completed']}")
    # The arrival window is `secs`; the drain after it only finishes what is outstanding.
    return {
        "completed": rep["completed"],
        "secs": rep["duration_s"],
        "rps": rep["completed"] / rep["duration_s"],
        "p50_ms": rep["latency_ms"]["p50"],
        "p99_ms": rep["latency_ms"]["p99"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="shufflenet,resnet50")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=float, default=10.0)
    ap.add_argument("--concurrency", default="2,4")
    ap.add_argument("--device", default="host-cpu")
    ap.add_argument("--threads", type=int, default=2, help="Python pool threads (host-cpu: 2 processors)")
    ap.add_argument("--models-dir", default=os.path.join(ROOT, "models"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "cosched-bench"))
    a = ap.parse_args()
    if not os.path.exists(a.bin):
        sys.exit(f"{a.bin}: not built (cargo build --release -p cosched-bench)")
    concurrencies = [int(c) for c in a.concurrency.split(",")]
    print(f"{'model':<12} {'conc':>4} {'round':>5} {'python rps':>11} {'cosched rps':>12} {'ratio':>6}"
          f" {'py p99':>7} {'co p99':>7} {'co n':>6}")
    summary = []
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            path = os.path.join(a.models_dir, f"{model}.onnx")
            for conc in concurrencies:
                ratios, py_p99, co_p99 = [], [], []
                for r in range(a.rounds):
                    py = python_pool(path, a.threads, a.secs)
                    co = cosched_run(a.bin, a.device, a.models_dir, model, conc, a.secs, tmp)
                    ratio = co["rps"] / py["rps"]
                    ratios.append(ratio)
                    py_p99.append(py["p99_ms"])
                    co_p99.append(co["p99_ms"])
                    print(f"{model:<12} {conc:>4} {r + 1:>5} {py['rps']:>11.1f} {co['rps']:>12.1f} {ratio:>6.3f}"
                          f" {py['p99_ms']:>7.2f} {co['p99_ms']:>7.2f} {co['completed']:>6}", flush=True)
                summary.append((model, conc, statistics.mean(ratios), statistics.median(py_p99),
                                statistics.median(co_p99)))
    print()
    print(f"cosched/python throughput, mean over {a.rounds} interleaved rounds ({a.threads} python threads):")
    for model, conc, ratio, pp, cp in summary:
        eq = " (equal concurrency)" if conc == a.threads else ""
        print(f"  {model:<12} concurrency {conc}: {ratio:.3f}x; p99 python {pp:.2f} ms, cosched {cp:.2f} ms{eq}")


if __name__ == "__main__":
    main()
