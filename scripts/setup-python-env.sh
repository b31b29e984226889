#!/usr/bin/env bash
# The Python side of the serving tests, in a virtual environment at third_party/venv (git-ignored):
# real KServe v2 servers (MLServer, and nvidia-pytriton, which ships a real tritonserver) for the
# remote-processor tests, and real clients (tritonclient, MLPerf LoadGen) for `serve`. Versions
# are pinned; nothing is downloaded at run time. Idempotent: a complete environment is kept.
#
# The venv is built from Debian's /usr/bin/python3 when there is one: pytriton's Python backend
# stub loads the system libpython, and a venv on another interpreter crashes when it loads a model.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=third_party/venv
stamp="${venv}/.cosched-complete-v1"
if [[ -f "${stamp}" ]]; then
    exit 0
fi
python=/usr/bin/python3
if [[ ! -x "${python}" ]]; then
    python=python3
fi
if ! "${python}" -c "import ensurepip, venv" 2>/dev/null && command -v apt-get >/dev/null; then
    # Debian splits venv out of the interpreter.
    apt-get install -y -qq python3-venv > /dev/null
fi
rm -rf "${venv}"
"${python}" -m venv "${venv}"
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
    "numpy<2" \
    onnxruntime==1.31.1 \
    "tritonclient[http]==2.73.0" \
    mlserver==1.7.1 "uvloop<0.22" \
    nvidia-pytriton==0.7.0 \
    mlcommons-loadgen==6.0.17
touch "${stamp}"
