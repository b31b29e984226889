"""tritonclient against `cosched-bench serve`: tritonclient_check.py URL MODEL INPUT.f32 OUTDIR

Reads the model's metadata and config through tritonclient, runs one JSON and one binary infer
of the little-endian f32 input in INPUT.f32 (shape from the metadata), and writes each output as
OUTDIR/{json,binary}-{output name}.f32 for the Rust test to compare with a direct session. Also
reads the statistics extension and checks it counted the two inferences.
"""

import os
import sys

import numpy as np
import tritonclient.http as httpclient

url, model, input_path, out = sys.argv[1:5]
client = httpclient.InferenceServerClient(url=url)
assert client.is_server_live() and client.is_server_ready()
assert client.is_model_ready(model)
meta = client.get_model_metadata(model)
config = client.get_model_config(model)
assert config["name"] == model, config
(inp,) = meta["inputs"]
shape = [d if d > 0 else 1 for d in inp["shape"]]
x = np.fromfile(input_path, dtype="<f4").reshape(shape)
for mode, binary in (("json", False), ("binary", True)):
    i = httpclient.InferInput(inp["name"], shape, "FP32")
    i.set_data_from_numpy(x, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput(o["name"], binary_data=binary) for o in meta["outputs"]]
    result = client.infer(model, [i], outputs=outputs)
    for o in meta["outputs"]:
        y = result.as_numpy(o["name"])
        assert y is not None and y.dtype == np.float32, (mode, o["name"], y)
        y.astype("<f4").tofile(os.path.join(out, f"{mode}-{o['name']}.f32"))
stats = client.get_inference_statistics(model)
count = stats["model_stats"][0]["inference_count"]
assert count >= 2, stats
print(f"ok: {model} json and binary, inference_count {count}")
