"""``OpenVinoIRNet``: an OpenVINO IR graph (``.xml`` + ``.bin``) rebuilt as a PyTorch module, so it can be trained.

OpenVINO's runtime runs a model's graph fast, but cannot differentiate it. The face models we build on
(``model.pretrained``) use a handful of operations, each of which has a one-line PyTorch equivalent: this module
reads the graph, turns every constant into a ``nn.Parameter`` (float32, from the FP16 weights) and replays the
operations in topological order. ``tests/model/test_openvino_ir.py`` checks the outputs against OpenVINO's own.

The IR format is documented in OpenVINO's "Intermediate Representation" pages (operation set opset1 and later);
only what our models use is implemented, and anything else is refused by name when the graph is read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

_DTYPES = {"f16": np.float16, "f32": np.float32, "i64": np.int64, "i32": np.int32, "u8": np.uint8}
SUPPORTED = (
    "Parameter", "Const", "Convert", "Result", "Convolution", "GroupConvolution", "Add", "Multiply", "PReLU",
    "ReLU", "Sigmoid", "AvgPool", "MaxPool",
)


class UnsupportedGraphError(ValueError):
    """The graph uses an operation (or an attribute value) this module does not implement."""


@dataclass(frozen=True)
class _Op:
    id: str
    type: str
    inputs: tuple[str, ...]
    """The ids of the layers feeding input ports 0, 1, ... (every layer here has one output)."""
    attrs: dict


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.replace(" ", "").split(",") if v != ""]


def _read_graph(xml_path: Path) -> tuple[list[_Op], dict[str, np.ndarray], str, str]:
    """The operations in execution order, the constants by layer id, and the input and output layer ids."""
    root = ET.parse(xml_path).getroot()
    weights = np.fromfile(Path(xml_path).with_suffix(".bin"), dtype=np.uint8)
    layers = {layer.get("id"): layer for layer in root.find("layers")}
    feeds: dict[str, dict[int, str]] = {lid: {} for lid in layers}
    for edge in root.find("edges"):
        feeds[edge.get("to-layer")][int(edge.get("to-port"))] = edge.get("from-layer")
    unsupported = sorted({layer.get("type") for layer in layers.values()} - set(SUPPORTED))
    if unsupported:
        raise UnsupportedGraphError(f"{xml_path.name} uses operations this loader does not implement: {', '.join(unsupported)}")
    constants: dict[str, np.ndarray] = {}
    ops: list[_Op] = []
    inputs = outputs = ""
    order = _topological(layers, feeds)
    for lid in order:
        layer = layers[lid]
        kind = layer.get("type")
        data = layer.find("data")
        attrs = dict(data.attrib) if data is not None else {}
        sources = tuple(feeds[lid][port] for port in sorted(feeds[lid]))
        if kind == "Const":
            dtype = _DTYPES[attrs["element_type"]]
            offset, size = int(attrs["offset"]), int(attrs["size"])
            shape = _ints(attrs["shape"]) if attrs.get("shape") else []
            constants[lid] = weights[offset : offset + size].view(dtype).reshape(shape).astype(np.float32)
            continue
        if kind == "Convert" and sources[0] in constants:  # FP16 weights decompressed: fold into the constant
            constants[lid] = constants[sources[0]]
            continue
        if kind == "Parameter":
            inputs = lid
        elif kind == "Result":
            outputs = sources[0]
            continue
        ops.append(_Op(lid, kind, sources, attrs))
    return ops, constants, inputs, outputs


def _topological(layers: dict, feeds: dict[str, dict[int, str]]) -> list[str]:
    done: set[str] = set()
    order: list[str] = []

    def visit(lid: str) -> None:
        stack = [(lid, False)]
        while stack:
            node, expanded = stack.pop()
            if node in done:
                continue
            if expanded:
                done.add(node)
                order.append(node)
                continue
            stack.append((node, True))
            stack.extend((src, False) for src in feeds[node].values() if src not in done)

    for lid in layers:
        visit(lid)
    return order


class OpenVinoIRNet(nn.Module):
    """The graph of an OpenVINO IR ``xml_path`` (its weights in the ``.bin`` beside it) as a PyTorch module.

    Takes what the graph's ``Parameter`` takes, for any batch size (the IR's batch of 1 is not enforced), and
    returns its one result. Every constant is a trainable parameter; ``requires_grad_(False)`` freezes them.
    """

    def __init__(self, xml_path: Path | str) -> None:
        super().__init__()
        ops, constants, self._input, self._output = _read_graph(Path(xml_path))
        self._ops = ops
        used = {src for op in ops for src in op.inputs}
        self.weights = nn.ParameterDict(
            {f"c{lid}": nn.Parameter(torch.from_numpy(value.copy())) for lid, value in constants.items() if lid in used}
        )
        for op in ops:
            _check(op)
        last_use: dict[str, int] = {}
        for step, op in enumerate(ops):
            for src in op.inputs:
                last_use[src] = step
        last_use[self._output] = len(ops)
        self._release: list[list[str]] = [[] for _ in ops]
        for src, step in last_use.items():
            if step < len(ops) and src not in self.weights and f"c{src}" not in self.weights:
                self._release[step].append(src)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self._input: x}
        for step, op in enumerate(self._ops):
            if op.type == "Parameter":
                continue
            args = [values[src] if src in values else self.weights[f"c{src}"] for src in op.inputs]
            values[op.id] = _apply(op, args)
            for src in self._release[step]:  # activations no later operation reads
                del values[src]
        return values[self._output]


def _check(op: _Op) -> None:
    pad = op.attrs.get("auto_pad", "explicit")
    if pad not in ("explicit", "notset", "valid"):
        raise UnsupportedGraphError(f"layer {op.id} ({op.type}) pads with auto_pad={pad}, which is not implemented")
    if op.type in ("Add", "Multiply") and op.attrs.get("auto_broadcast", "numpy") != "numpy":
        raise UnsupportedGraphError(f"layer {op.id} ({op.type}) broadcasts as {op.attrs['auto_broadcast']!r}")


def _padding(attrs: dict) -> tuple[int, int, int, int]:
    """(left, right, top, bottom) as ``F.pad`` takes them."""
    if attrs.get("auto_pad") == "valid":
        return (0, 0, 0, 0)
    top, left = _ints(attrs.get("pads_begin", "0,0"))
    bottom, right = _ints(attrs.get("pads_end", "0,0"))
    return (left, right, top, bottom)


def _conv(x: torch.Tensor, weight: torch.Tensor, attrs: dict, groups: int = 1) -> torch.Tensor:
    left, right, top, bottom = _padding(attrs)
    stride, dilation = _ints(attrs["strides"]), _ints(attrs["dilations"])
    if left == right and top == bottom:
        return F.conv2d(x, weight, stride=stride, padding=(top, left), dilation=dilation, groups=groups)
    return F.conv2d(F.pad(x, (left, right, top, bottom)), weight, stride=stride, dilation=dilation, groups=groups)


def _pool(x: torch.Tensor, attrs: dict, average: bool) -> torch.Tensor:
    left, right, top, bottom = _padding(attrs)
    if left != right or top != bottom:
        raise UnsupportedGraphError("asymmetric pooling pads are not implemented")
    kernel, stride = _ints(attrs["kernel"]), _ints(attrs["strides"])
    ceil = attrs.get("rounding_type", "floor") == "ceil"
    if average:
        return F.avg_pool2d(x, kernel, stride, (top, left), ceil_mode=ceil, count_include_pad=attrs.get("exclude-pad") != "true")
    return F.max_pool2d(x, kernel, stride, (top, left), ceil_mode=ceil)


def _apply(op: _Op, args: list[torch.Tensor]) -> torch.Tensor:
    kind = op.type
    if kind == "Convolution":
        return _conv(args[0], args[1], op.attrs)
    if kind == "GroupConvolution":  # weights (G, C_out/G, C_in/G, kH, kW)
        w = args[1]
        return _conv(args[0], w.reshape(w.shape[0] * w.shape[1], *w.shape[2:]), op.attrs, groups=w.shape[0])
    if kind == "Add":
        return args[0] + args[1]
    if kind == "Multiply":
        return args[0] * args[1]
    if kind == "PReLU":
        x, slope = args
        if slope.numel() in (1, x.shape[1]):  # one slope, or one per channel: PyTorch's own kernel
            return F.prelu(x, slope.reshape(-1))
        return torch.where(x >= 0, x, x * slope)
    if kind == "ReLU":
        return F.relu(args[0])
    if kind == "Sigmoid":
        return torch.sigmoid(args[0])
    if kind == "AvgPool":
        return _pool(args[0], op.attrs, average=True)
    if kind == "MaxPool":
        return _pool(args[0], op.attrs, average=False)
    if kind == "Convert":
        return args[0].float()
    raise UnsupportedGraphError(f"operation {kind} is not implemented")
