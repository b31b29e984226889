#!/usr/bin/env bash
# A manual check (not in CI: too fragile, see docs/serve.md): Triton's perf_analyzer against a
# KServe v2 server, e.g. `cosched-bench serve`. perf_analyzer's PyPI wheel is built for glibc 2.38;
# on Debian 12 this script fetches the wheel and Debian 13's loader, libc and libstdc++ into
# third_party/perf_analyzer/ (once) and starts the binary through that loader.
# Usage: scripts/perf-analyzer-check.sh URL MODEL [perf_analyzer options...]
#   e.g. scripts/perf-analyzer-check.sh 127.0.0.1:8000 mobilenet_v2 --concurrency-range 1:4
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { echo "usage: $0 HOST:PORT MODEL [perf_analyzer options...]" >&2; exit 2; }
url="$1"; model="$2"; shift 2
dir=third_party/perf_analyzer
libs="${dir}/root/usr/lib/x86_64-linux-gnu"
bin="${dir}/whl/perf_analyzer/bin/perf_analyzer"
if [[ ! -x "${bin}" || ! -e "${libs}/ld-linux-x86-64.so.2" ]]; then
    rm -rf "${dir}"
    mkdir -p "${dir}/apt/lists/partial" "${dir}/apt/archives/partial"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux_2_38_x86_64 \
        perf-analyzer==2.60.0 -d "${dir}"
    (cd "${dir}" && python3 -m zipfile -e perf_analyzer-2.60.0-py3-none-manylinux_2_38_x86_64.whl whl)
    chmod +x "${bin}"
    abs="$(cd "${dir}" && pwd)"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
        > "${abs}/apt/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=${abs}/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
        -o "Dir::State::Lists=${abs}/apt/lists" -o "Dir::Cache::Archives=${abs}/apt/archives"
        -o Dir::State::Status=/dev/null)
    apt-get "${apt_opts[@]}" update > /dev/null
    (cd "${abs}" && apt-get "${apt_opts[@]}" download libc6 libstdc++6 libgcc-s1 > /dev/null 2>&1)
    for deb in "${dir}"/*.deb; do dpkg-deb -x "${deb}" "${dir}/root"; done
fi
exec "${libs}/ld-linux-x86-64.so.2" --library-path "${libs}:/lib/x86_64-linux-gnu" "${bin}" \
    -u "${url}" -i http -m "${model}" "$@"
