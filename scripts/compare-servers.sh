#!/usr/bin/env bash
# LoadGen Server scenario against three KServe v2 servers serving the same model on this machine,
# one after the other, each with two inferences at once on one thread each:
#   cosched-bench serve on devices/host-cpu.toml (two 1-thread CPU processors),
#   MLServer 1.7.1 with two parallel workers (JSON only: it refuses binary tensors),
#   Triton 2.51 (nvidia-pytriton) with two model instances.
# For each: the highest request rate whose p99 stays under P99_MS (scripts/loadgen_kserve.py
# --search). Usage: scripts/compare-servers.sh [MODEL] (default mobilenet_v2); env P99_MS (50),
# DURATION_S (10), POLICY (least-slack), OUT (target/compare-servers), SERVERS (the ones to run:
# "serve mlserver triton").
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-mobilenet_v2}"
p99="${P99_MS:-50}"
duration="${DURATION_S:-10}"
policy="${POLICY:-least-slack}"
out="${OUT:-target/compare-servers}"
servers=" ${SERVERS:-serve mlserver triton} "
py=third_party/venv/bin/python
bench=target/release/cosched-bench
[[ -x "${py}" ]] || { echo "compare-servers: ${py} missing: run scripts/setup-python-env.sh" >&2; exit 2; }
[[ -x "${bench}" ]] || { echo "compare-servers: ${bench} missing: cargo build --release -p cosched-bench" >&2; exit 2; }
mkdir -p "${out}"
free_port() { "${py}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
pid=""
stop() {
    if [[ -n "${pid}" ]]; then
        # `kill -s SIG -- -PGID`: procps 4.0.2 misreads `kill -SIG -PGID`.
        kill -s TERM -- "-${pid}" 2>/dev/null || true
        sleep 2
        kill -s KILL -- "-${pid}" 2>/dev/null || true
        wait "${pid}" 2>/dev/null || true
        pid=""
    fi
}
trap stop EXIT
wait_ready() {
    for _ in $(seq 1 300); do
        if curl -sf -o /dev/null "http://127.0.0.1:$1/v2/models/${model}/ready"; then return 0; fi
        sleep 0.2
    done
    echo "compare-servers: server on port $1 not ready after 60 s (log: $2)" >&2
    exit 1
}
measure() { # name port protocol
    "${py}" scripts/loadgen_kserve.py --url "http://127.0.0.1:$2" --model "${model}" --protocol "$3" \
        --p99-ms "${p99}" --duration-s "${duration}" --search --qps 20 | tee "${out}/$1-$3.jsonl" | tail -1
}
if [[ "${servers}" == *" serve "* ]]; then
port=$(free_port)
setsid "${bench}" serve --device host-cpu --models models --policy "${policy}" --listen "127.0.0.1:${port}" \
    > "${out}/serve.log" 2>&1 &
pid=$!
wait_ready "${port}" "${out}/serve.log"
measure serve "${port}" binary
measure serve "${port}" json
stop
fi
if [[ "${servers}" == *" mlserver "* ]]; then
port=$(free_port)
COSCHED_MLSERVER_WORKERS=2 setsid "${py}" crates/cosched-ort/tests/servers/serve_mlserver.py "${out}/mlserver" \
    "${port}" "$(free_port)" "$(free_port)" "${model}=models/${model}.onnx" > "${out}/mlserver.log" 2>&1 &
pid=$!
wait_ready "${port}" "${out}/mlserver.log"
measure mlserver "${port}" json
stop
fi
if [[ "${servers}" == *" triton "* ]]; then
port=$(free_port)
COSCHED_INSTANCES=2 setsid "${py}" crates/cosched-ort/tests/servers/serve_pytriton.py "${port}" "$(free_port)" \
    "$(free_port)" "${model}=models/${model}.onnx" > "${out}/triton.log" 2>&1 &
pid=$!
wait_ready "${port}" "${out}/triton.log"
measure triton "${port}" binary
measure triton "${port}" json
stop
fi
"${py}" - "${out}" <<'PY'
import glob, json, os, sys
rows = []
for f in sorted(glob.glob(os.path.join(sys.argv[1], "*.jsonl"))):
    last = json.loads(open(f).read().strip().splitlines()[-1])
    rows.append((os.path.basename(f)[:-6], last["sustained_qps"], last["p99_bound_ms"]))
print("\n| server-protocol | sustained req/s at p99 <= bound | bound ms |\n|---|---|---|")
for r in rows:
    print(f"| {r[0]} | {r[1]:.1f} | {r[2]:g} |")
PY
