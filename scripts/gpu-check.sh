#!/usr/bin/env bash
# The accelerator path, for real, on a Linux x86-64 machine with an NVIDIA GPU:
#
#   scripts/gpu-check.sh --fetch    # on any machine with PyPI access: wheels -> third_party/gpu-wheels/
#   scripts/gpu-check.sh            # on the GPU machine (no network needed once fetched)
#
# It installs the pinned onnxruntime-gpu wheel (SHA-256 checked below) and, where the machine has
# no CUDA/cuDNN of its own, NVIDIA's CUDA 12 runtime wheels, into a virtual environment
# (.gpu-venv/, git-ignored); builds cosched-bench with the cuda and tensorrt features; profiles
# the test models on the CUDA (and TensorRT, where the library has it) execution provider next to
# the CPU; trains a short policy on that profile; and runs it for real, printing which execution
# provider really ran each processor (a provider that fails to register masks its processor, it
# never falls back to the CPU silently). Outputs go to target/gpu-check/.
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="1.31.1"
WHEEL="onnxruntime_gpu-${VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256="e26c475fe361b2015f45b4b824bd13f0bb20204e59b62814e6f0acd5f3d491a6"
# NVIDIA's runtime wheels that onnxruntime-gpu's CUDA 12 build loads (its [cuda,cudnn] extras).
NVIDIA_WHEELS=(nvidia-cuda-runtime-cu12 nvidia-cublas-cu12 nvidia-cufft-cu12 nvidia-curand-cu12
    nvidia-cudnn-cu12 nvidia-cuda-nvrtc-cu12)
wheels="third_party/gpu-wheels"
python="${PYTHON:-python3}"

if [[ "${1:-}" == "--fetch" ]]; then
    mkdir -p "${wheels}"
    "${python}" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 3.11 --platform manylinux_2_28_x86_64 -d "${wheels}" "onnxruntime-gpu==${VERSION}"
    "${python}" -m pip download --quiet --disable-pip-version-check --only-binary=:all: \
        --python-version 3.11 --platform manylinux_2_28_x86_64 -d "${wheels}" "${NVIDIA_WHEELS[@]}" numpy
    echo "wheels in ${wheels}; copy the repository (with it) to the GPU machine and run scripts/gpu-check.sh"
    exit 0
fi

command -v nvidia-smi >/dev/null || { echo "gpu-check.sh: no nvidia-smi: this is not a machine with an NVIDIA GPU" >&2; exit 1; }
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

whl="${wheels}/${WHEEL}"
[[ -f "${whl}" ]] || { echo "gpu-check.sh: ${whl}: missing: run scripts/gpu-check.sh --fetch first" >&2; exit 1; }
echo "${WHEEL_SHA256}  ${whl}" | sha256sum --check --quiet || { echo "gpu-check.sh: ${whl}: SHA-256 mismatch (pinned ${WHEEL_SHA256})" >&2; exit 1; }

venv=".gpu-venv"
[[ -x "${venv}/bin/python" ]] || "${python}" -m venv "${venv}"
"${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "${wheels}" \
    "${whl}" numpy
if ! ldconfig -p | grep -q libcudnn; then
    "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --find-links "${wheels}" \
        "${NVIDIA_WHEELS[@]}"
fi
site="$("${venv}/bin/python" -c 'import site; print(site.getsitepackages()[0])')"
lib="$(ls "${site}"/onnxruntime/capi/libonnxruntime.so.* | head -1)"
export ORT_DYLIB_PATH="${lib}"
# The provider libraries sit beside libonnxruntime; NVIDIA's wheels put theirs under nvidia/*/lib.
nvlibs="$(ls -d "${site}"/nvidia/*/lib 2>/dev/null | paste -sd: || true)"
export LD_LIBRARY_PATH="$(dirname "${lib}")${nvlibs:+:${nvlibs}}${LD_LIBRARY_PATH:+:${LD_LIBRARY_PATH}}"
echo "libonnxruntime: ${lib}"
providers="$("${venv}/bin/python" -c 'import onnxruntime as o; print(",".join(o.get_available_providers()))')"
echo "providers in this build: ${providers}"

[[ -d models ]] || bash scripts/setup-test-deps.sh
cargo build --release -p cosched-bench --features cosched-ort/cuda,cosched-ort/tensorrt
bin=target/release/cosched-bench
out=target/gpu-check
mkdir -p "${out}"

eps="cpu,cuda"
[[ "${providers}" == *TensorrtExecutionProvider* ]] && eps="${eps},tensorrt"
"${bin}" profile --models models --only resnet50,resnet18,mobilenet_v2,squeezenet,shufflenet \
    --providers "${eps}" --iters 30 --out "${out}/host-gpu.toml" | tee "${out}/profile.txt"
"${bin}" train --device "${out}/host-gpu.toml" --steps 4000 --restarts 1 --out "${out}/host-gpu.policy" \
    | tail -3
for policy in least-slack "${out}/host-gpu.policy"; do
    echo "== run --policy ${policy}"
    "${bin}" run --device "${out}/host-gpu.toml" --models models --workload multi-stream --load 0.6 \
        --duration 10 --policy "${policy}" --json "${out}/run-$(basename "${policy}").json" 2>&1 \
        | grep -E "^processor|^policy|^least|^drl|^host|measured/profile|warning|real run" || true
done
echo "profile, runs and reports in ${out}/"
