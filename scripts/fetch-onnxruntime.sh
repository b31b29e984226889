#!/usr/bin/env bash
# Fetch libonnxruntime for the host (Linux x86-64) without a network download of its own:
# the shared library ships inside the PyPI wheel of onnxruntime, which pip can fetch.
#
#   scripts/fetch-onnxruntime.sh            # -> third_party/onnxruntime/libonnxruntime.so
#
# The wheel's SHA-256 is pinned below; a mismatch aborts. The result is git-ignored.
# cosched finds the library through ORT_DYLIB_PATH, else third_party/onnxruntime/libonnxruntime.so*
# under the current folder, its ancestors, or any ancestor of the executable. See docs/onnxruntime.md for
# Jetson and Android.
set -euo pipefail

VERSION="1.31.1"
WHEEL="onnxruntime-${VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
WHEEL_SHA256="5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${root}/third_party/onnxruntime"
lib="${dest}/libonnxruntime.so.${VERSION}"

if [[ -f "${lib}" && -L "${dest}/libonnxruntime.so" ]]; then
    echo "onnxruntime ${VERSION} already in ${dest}"
    exit 0
fi

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) ;;
    *)
        echo "fetch-onnxruntime.sh: only Linux x86-64 is fetched automatically; on $(uname -s)-$(uname -m)" >&2
        echo "point ORT_DYLIB_PATH at a libonnxruntime ${VERSION} for this platform (docs/onnxruntime.md)" >&2
        exit 1
        ;;
esac

python="${PYTHON:-python3}"
command -v "${python}" >/dev/null || { echo "fetch-onnxruntime.sh: needs python3 with pip" >&2; exit 1; }

mkdir -p "${dest}/.download"
whl="${dest}/.download/${WHEEL}"
if [[ ! -f "${whl}" ]]; then
    "${python}" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
        "onnxruntime==${VERSION}" -d "${dest}/.download"
fi

actual="$(sha256sum "${whl}" | cut -d' ' -f1)"
if [[ "${actual}" != "${WHEEL_SHA256}" ]]; then
    echo "fetch-onnxruntime.sh: ${WHEEL}: SHA-256 ${actual} does not match the pinned ${WHEEL_SHA256}" >&2
    rm -f "${whl}"
    exit 1
fi

"${python}" - "${whl}" "${dest}" "${VERSION}" <<'PY'
import os, sys, zipfile
whl, dest, version = sys.argv[1:]
names = {
    f"onnxruntime/capi/libonnxruntime.so.{version}": f"libonnxruntime.so.{version}",
    "onnxruntime/capi/libonnxruntime_providers_shared.so": "libonnxruntime_providers_shared.so",
}
with zipfile.ZipFile(whl) as z:
    for member, out in names.items():
        tmp = os.path.join(dest, out + ".tmp")
        with z.open(member) as src, open(tmp, "wb") as dst:
            dst.write(src.read())
        os.chmod(tmp, 0o755)
        os.replace(tmp, os.path.join(dest, out))
PY

ln -sfn "libonnxruntime.so.${VERSION}" "${dest}/libonnxruntime.so"
echo "onnxruntime ${VERSION} -> ${dest}/libonnxruntime.so"
