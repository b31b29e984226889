#!/usr/bin/env python3
"""Write the ONNX test models of cosched into models/ (git-ignored).

    pip install onnx==1.23.2 && python3 scripts/make-test-models.py [--out models] [--only NAME,...]

- Real architectures the `onnx` package ships as backend-test data (onnx/backend/test/data/light/:
  opset 9, input [1,3,224,224], full compute, stub weights built at load time by ConstantOfShape):
  resnet50, squeezenet (1.1), shufflenet (v1), densenet121, inception_v1, vgg19, named with the
  model names of the device profiles.
- Generated with onnx.helper, random weights (fixed seed), dynamic batch dimension "batch":
  resnet18 and mobilenet_v2 (torchvision layouts, input [batch,3,224,224], 1000 logits), and
  `tiny` (input [batch,64]; 100 MatMul+Add+Relu blocks = 300 ops, microseconds of compute) for
  the dispatch-overhead bench.

No network access and no downloaded weights: everything comes from the onnx package or a seed.
"""

import argparse
import os
import shutil
import sys

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError:
    sys.exit("make-test-models.py: needs the onnx package: pip install onnx==1.23.2")

LIGHT = {
    "resnet50": "light_resnet50.onnx",
    "squeezenet": "light_squeezenet.onnx",
    "shufflenet": "light_shufflenet.onnx",
    "densenet121": "light_densenet121.onnx",
    "inception_v1": "light_inception_v1.onnx",
    "vgg19": "light_vgg19.onnx",
}

OPSET = 13


class Builder:
    """Accumulates nodes and initializers of a conv net."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.inits = []
        self.n = 0

    def name(self, prefix):
        self.n += 1
        return f"{prefix}_{self.n}"

    def const(self, prefix, array):
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    def conv(self, x, cin, cout, k, stride=1, groups=1, bn=True, relu=None):
        """Conv (+ BatchNorm) (+ Relu or Relu6)."""
        fan_in = cin // groups * k * k
        w = self.rng.standard_normal((cout, cin // groups, k, k)) * np.sqrt(2.0 / fan_in)
        wn = self.const("w", w)
        y = self.name("conv")
        self.nodes.append(
            helper.make_node(
                "Conv",
                [x, wn],
                [y],
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[k // 2] * 4,
                group=groups,
            )
        )
        if bn:
            scale = self.const("bn_scale", 1.0 + 0.1 * self.rng.standard_normal(cout))
            bias = self.const("bn_bias", 0.1 * self.rng.standard_normal(cout))
            mean = self.const("bn_mean", 0.1 * self.rng.standard_normal(cout))
            var = self.const("bn_var", 1.0 + 0.1 * np.abs(self.rng.standard_normal(cout)))
            z = self.name("bn")
            self.nodes.append(helper.make_node("BatchNormalization", [y, scale, bias, mean, var], [z], epsilon=1e-5))
            y = z
        if relu == "relu":
            z = self.name("relu")
            self.nodes.append(helper.make_node("Relu", [y], [z]))
            y = z
        elif relu == "relu6":
            z = self.name("relu6")
            lo = self.const("zero", np.array(0.0))
            hi = self.const("six", np.array(6.0))
            self.nodes.append(helper.make_node("Clip", [y, lo, hi], [z]))
            y = z
        return y

    def add(self, a, b, relu=False):
        y = self.name("add")
        self.nodes.append(helper.make_node("Add", [a, b], [y]))
        if relu:
            z = self.name("relu")
            self.nodes.append(helper.make_node("Relu", [y], [z]))
            y = z
        return y

    def head(self, x, cin, classes=1000):
        """Global average pool, flatten, fully connected layer to the logits named 'output'."""
        p = self.name("gap")
        self.nodes.append(helper.make_node("GlobalAveragePool", [x], [p]))
        f = self.name("flatten")
        self.nodes.append(helper.make_node("Flatten", [p], [f], axis=1))
        w = self.const("fc_w", self.rng.standard_normal((classes, cin)) * np.sqrt(1.0 / cin))
        b = self.const("fc_b", np.zeros(classes))
        self.nodes.append(helper.make_node("Gemm", [f, w, b], ["output"], transB=1))

    def model(self, graph_name, input_shape, output_shape):
        graph = helper.make_graph(
            self.nodes,
            graph_name,
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info("output", TensorProto.FLOAT, output_shape)],
            self.inits,
        )
        m = helper.make_model(
            graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="cosched make-test-models.py"
        )
        m.ir_version = 8
        onnx.checker.check_model(m)
        return m


def resnet18():
    b = Builder(seed=18)
    x = b.conv("input", 3, 64, 7, stride=2, relu="relu")
    p = b.name("maxpool")
    b.nodes.append(helper.make_node("MaxPool", [x], [p], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]))
    x, cin = p, 64
    for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        for block in range(2):
            s = stride if block == 0 else 1
            y = b.conv(x, cin, cout, 3, stride=s, relu="relu")
            y = b.conv(y, cout, cout, 3)
            shortcut = x if (s == 1 and cin == cout) else b.conv(x, cin, cout, 1, stride=s)
            x = b.add(y, shortcut, relu=True)
            cin = cout
    b.head(x, 512)
    return b.model("resnet18", ["batch", 3, 224, 224], ["batch", 1000])


def mobilenet_v2():
    b = Builder(seed=2)
    x = b.conv("input", 3, 32, 3, stride=2, relu="relu6")
    cin = 32
    # (expansion t, channels c, repeats n, stride s) of the MobileNetV2 paper, width 1.0.
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            stride = s if i == 0 else 1
            hidden = cin * t
            y = x
            if t != 1:
                y = b.conv(y, cin, hidden, 1, relu="relu6")
            y = b.conv(y, hidden, hidden, 3, stride=stride, groups=hidden, relu="relu6")
            y = b.conv(y, hidden, c, 1)
            x = b.add(x, y) if (stride == 1 and cin == c) else y
            cin = c
    x = b.conv(x, cin, 1280, 1, relu="relu6")
    b.head(x, 1280)
    return b.model("mobilenet_v2", ["batch", 3, 224, 224], ["batch", 1000])


def tiny(blocks=100, width=64):
    b = Builder(seed=64)
    x = "input"
    for _ in range(blocks):
        w = b.const("w", np.eye(width) + 0.01 * b.rng.standard_normal((width, width)))
        bias = b.const("b", 0.01 * b.rng.standard_normal(width))
        m = b.name("matmul")
        b.nodes.append(helper.make_node("MatMul", [x, w], [m]))
        a = b.name("add")
        b.nodes.append(helper.make_node("Add", [m, bias], [a]))
        r = b.name("relu")
        b.nodes.append(helper.make_node("Relu", [a], [r]))
        x = r
    b.nodes.append(helper.make_node("Identity", [x], ["output"]))
    return b.model("tiny", ["batch", width], ["batch", width])


GENERATED = {"resnet18": resnet18, "mobilenet_v2": mobilenet_v2, "tiny": tiny}


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(root, "models"), help="output folder (default: models/)")
    ap.add_argument("--only", default="", help="comma-separated model names (default: all)")
    ap.add_argument("--force", action="store_true", help="rewrite models that already exist")
    args = ap.parse_args()
    wanted = set(filter(None, args.only.split(","))) or set(LIGHT) | set(GENERATED)
    unknown = wanted - set(LIGHT) - set(GENERATED)
    if unknown:
        sys.exit(f"make-test-models.py: unknown model(s) {sorted(unknown)}; known: {sorted(set(LIGHT) | set(GENERATED))}")
    os.makedirs(args.out, exist_ok=True)
    light_dir = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
    for name in sorted(wanted):
        dest = os.path.join(args.out, f"{name}.onnx")
        if os.path.exists(dest) and not args.force:
            print(f"{dest}: exists")
            continue
        tmp = dest + ".tmp"
        if name in LIGHT:
            src = os.path.join(light_dir, LIGHT[name])
            if not os.path.exists(src):
                sys.exit(f"make-test-models.py: {src} not found (onnx {onnx.__version__}; 1.23.2 ships it)")
            shutil.copyfile(src, tmp)
        else:
            onnx.save(GENERATED[name](), tmp)
        os.replace(tmp, dest)
        print(f"{dest}: {os.path.getsize(dest) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
