#!/usr/bin/env bash
# `cosched-bench serve` at many times its saturation rate (issue 16's overload check): starts
# serve on host-cpu with its defaults, offers RATE binary infer requests per second of MODEL for
# DURATION_S over CONNECTIONS keep-alive connections (crates/cosched-serve/examples/overload.rs),
# and prints the answers by status, the requests that got none, the rate really offered and the
# server's peak resident memory. Then SIGTERM: serve must drain and exit 0.
# Usage: scripts/overload-serve.sh [MODEL] (default mobilenet_v2); env RATE (3100), DURATION_S (10),
# CONNECTIONS (1024), POLICY (least-slack), SERVE_NICE (0: serve's niceness; on a 2-core machine
# a CPU-bound serve starves the client on the same cores, so it cannot offer 10x: nice serve).
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-mobilenet_v2}"
bench=target/release/cosched-bench
client=target/release/examples/overload
[[ -x "${bench}" ]] || { echo "overload-serve: ${bench} missing: cargo build --release -p cosched-bench" >&2; exit 2; }
[[ -x "${client}" ]] || { echo "overload-serve: ${client} missing: cargo build --release -p cosched-serve --example overload" >&2; exit 2; }
log=$(mktemp)
nice -n "${SERVE_NICE:-0}" "${bench}" serve --device host-cpu --models models --policy "${POLICY:-least-slack}" --listen 127.0.0.1:0 > "${log}" 2>&1 &
pid=$!
trap 'kill -s KILL "${pid}" 2>/dev/null || true; rm -f "${log}"' EXIT
for _ in $(seq 1 300); do
    grep -q "http://" "${log}" && break
    sleep 0.2
done
addr=$(grep -o 'http://[0-9.:]*' "${log}" | head -1 | sed 's|http://||')
[[ -n "${addr}" ]] || { echo "overload-serve: serve did not start:" >&2; cat "${log}" >&2; exit 1; }
input=$(curl -sf "http://${addr}/v2/models/${model}" | python3 -c 'import json,sys; i=json.load(sys.stdin)["inputs"][0]; print(i["name"], ",".join(str(max(d,1)) for d in i["shape"]))')
read -r name shape <<< "${input}"
"${client}" --addr "${addr}" --model "${model}" --input "${name}" --shape "${shape}" --rate "${RATE:-3100}" \
    --seconds "${DURATION_S:-10}" --connections "${CONNECTIONS:-1024}" --pid "${pid}"
kill -s TERM "${pid}"
status=0
wait "${pid}" || status=$?
echo "serve exit status after SIGTERM: ${status}; its last line: $(tail -1 "${log}")"
