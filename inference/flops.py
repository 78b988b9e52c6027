"""Floating-point operations of one image through a model (2 per multiply-accumulate).

Counts Conv, Gemm and MatMul, which dominate a CNN; element-wise ops and pooling are left out.
"""

from __future__ import annotations

import math
from typing import Any

import onnx
from onnx import helper, shape_inference


def count_flops(model: Any) -> int:
    """FLOPs for a batch of one, with the batch dimension pinned to 1 before shape inference."""
    pinned = onnx.ModelProto()
    pinned.CopyFrom(model)
    for value in pinned.graph.input:
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].ClearField("dim_param")
            dims[0].dim_value = 1
    inferred = shape_inference.infer_shapes(pinned, strict_mode=True)
    shapes = {v.name: _dims(v) for v in [*inferred.graph.input, *inferred.graph.value_info]}
    shapes.update({v.name: _dims(v) for v in inferred.graph.output})
    initial = {t.name: tuple(t.dims) for t in inferred.graph.initializer}
    shapes.update(initial)
    total = 0
    for node in inferred.graph.node:
        if node.op_type == "Conv":
            weight = shapes[node.input[1]]  # (out, in / groups, kh, kw)
            out = shapes[node.output[0]]  # (n, out, h, w)
            total += 2 * math.prod(out) * math.prod(weight[1:])
        elif node.op_type in ("Gemm", "MatMul"):
            a = shapes[node.input[0]]
            out = shapes[node.output[0]]
            trans_a = next(
                (helper.get_attribute_value(x) for x in node.attribute if x.name == "transA"), 0
            )
            inner = a[0] if trans_a else a[-1]
            total += 2 * math.prod(out) * inner
    return total


def _dims(value: Any) -> tuple[int, ...]:
    return tuple(d.dim_value for d in value.type.tensor_type.shape.dim)
