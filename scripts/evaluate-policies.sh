#!/usr/bin/env bash
# The DRL table of README.md: the pretrained balanced policy of every device against every
# baseline, on every built-in workload at 50 %, 80 % and 95 % load (simulated, seeds 1-6).
# Writes docs/drl-evaluation.md and docs/drl-evaluation.json, and the table between the
# `<!-- drl-table -->` markers of README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p cosched-bench
target/release/cosched-bench evaluate --policy drl --loads 0.5,0.8,0.95 --seeds 1,2,3,4,5,6 \
    --markdown docs/drl-evaluation.md --json docs/drl-evaluation.json > /dev/null
python3 - <<'PY'
import re
table = open("docs/drl-evaluation.md").read().strip()
readme = open("README.md").read()
start, end = "<!-- drl-table -->", "<!-- /drl-table -->"
block = f"{start}\n{table}\n{end}"
if end in readme:
    readme = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, readme, flags=re.S)
else:
    readme = readme.replace(start, block)
open("README.md", "w").write(readme)
PY
echo "updated README.md and docs/drl-evaluation.md"
