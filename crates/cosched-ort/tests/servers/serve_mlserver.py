"""Start a real MLServer on loopback serving ONNX models: serve_mlserver.py DIR HTTP GRPC METRICS MODEL=PATH...

COSCHED_MLSERVER_WORKERS (default 0: inference in the server process) sets MLServer's
parallel_workers, COSCHED_ORT_THREADS (default 1) each session's intra-op threads.

Writes the settings and model repository into DIR, then execs `mlserver start DIR` (so that
killing this process kills the server).
"""

import json
import os
import shutil
import sys

here = os.path.dirname(os.path.abspath(__file__))
root, http, grpc, metrics = os.path.abspath(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
os.makedirs(root, exist_ok=True)
shutil.copy(os.path.join(here, "mlserver_onnx.py"), os.path.join(root, "mlserver_onnx.py"))
with open(os.path.join(root, "settings.json"), "w") as f:
    json.dump({"host": "127.0.0.1", "http_port": http, "grpc_port": grpc, "metrics_port": metrics,
               "parallel_workers": int(os.environ.get("COSCHED_MLSERVER_WORKERS", "0")), "debug": False}, f)
for spec in sys.argv[5:]:
    name, path = spec.split("=", 1)
    model_dir = os.path.join(root, name)
    os.makedirs(model_dir, exist_ok=True)
    shutil.copy(path, os.path.join(model_dir, "model.onnx"))
    with open(os.path.join(model_dir, "model-settings.json"), "w") as f:
        json.dump({"name": name, "implementation": "mlserver_onnx.OnnxModel",
                   "parameters": {"uri": "./model.onnx"}}, f)
os.chdir(root)
mlserver = os.path.join(os.path.dirname(sys.executable), "mlserver")
os.execv(mlserver, [mlserver, "start", root])
