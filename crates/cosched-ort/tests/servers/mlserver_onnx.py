"""An MLServer runtime that serves an ONNX file with onnxruntime (MLServer has none built in).

Used by the remote-processor tests: `serve_mlserver.py` writes a model repository that names
this class as the model's implementation.
"""

import os

import onnxruntime
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri


class OnnxModel(MLModel):
    async def load(self) -> bool:
        uri = await get_model_uri(self._settings)
        options = onnxruntime.SessionOptions()
        # One thread unless told (the comparisons of scripts/compare-servers.sh give every
        # server the same total threads).
        options.intra_op_num_threads = int(os.environ.get("COSCHED_ORT_THREADS", "1"))
        self._session = onnxruntime.InferenceSession(uri, options, providers=["CPUExecutionProvider"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {i.name: NumpyCodec.decode_input(i) for i in payload.inputs}
        names = [o.name for o in self._session.get_outputs()]
        values = self._session.run(names, feeds)
        return InferenceResponse(
            model_name=self.name,
            outputs=[NumpyCodec.encode_output(name=n, payload=v) for n, v in zip(names, values)],
        )
