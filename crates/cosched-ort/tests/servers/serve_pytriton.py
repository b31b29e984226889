"""Start a real Triton Inference Server (nvidia-pytriton's tritonserver) on loopback serving ONNX
models through onnxruntime: serve_pytriton.py HTTP GRPC METRICS MODEL=PATH...

COSCHED_INSTANCES (default 1) model instances, each with its own session of COSCHED_ORT_THREADS
(default 1) intra-op threads.

pytriton ships tritonserver with the Python backend only, so each model is a bound Python
function that runs an onnxruntime session. Runs until killed.
"""

import os
import sys

import numpy as np
import onnxruntime
from pytriton.decorators import batch
from pytriton.model_config import ModelConfig, Tensor
from pytriton.triton import Triton, TritonConfig

http, grpc, metrics = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])


def infer_fn(session):
    inputs = [i.name for i in session.get_inputs()]
    outputs = [o.name for o in session.get_outputs()]

    @batch
    def infer(**tensors):
        values = session.run(outputs, {n: tensors[n].astype(np.float32) for n in inputs})
        return dict(zip(outputs, values))

    return infer


config = TritonConfig(http_address="127.0.0.1", http_port=http, grpc_address="127.0.0.1", grpc_port=grpc,
                      metrics_port=metrics)
with Triton(config=config) as triton:
    for spec in sys.argv[4:]:
        name, path = spec.split("=", 1)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = int(os.environ.get("COSCHED_ORT_THREADS", "1"))
        sessions = [onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
                    for _ in range(int(os.environ.get("COSCHED_INSTANCES", "1")))]
        session = sessions[0]
        triton.bind(
            model_name=name,
            infer_func=[infer_fn(s) for s in sessions],
            inputs=[Tensor(name=i.name, dtype=np.float32, shape=tuple(d if isinstance(d, int) else -1 for d in i.shape[1:]))
                    for i in session.get_inputs()],
            outputs=[Tensor(name=o.name, dtype=np.float32, shape=tuple(d if isinstance(d, int) else -1 for d in o.shape[1:]))
                     for o in session.get_outputs()],
            config=ModelConfig(max_batch_size=16),
        )
    triton.serve()
