#!/usr/bin/env bash
# Everything the test suite needs besides a Rust toolchain, fetched from the package registries
# (nothing is downloaded at run time): libonnxruntime from the pinned PyPI wheel into
# third_party/onnxruntime/ and the test models into models/ (both git-ignored). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/fetch-onnxruntime.sh
python3 -m pip install --quiet --disable-pip-version-check onnx==1.23.2
python3 scripts/make-test-models.py
bash scripts/setup-python-env.sh
