"""Tiny ONNX models for the inference tests, built with the onnx helper API."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Dim = int | str


def linear_classifier(
    *,
    input_shape: Sequence[Dim] = ("N", 3, 8, 8),
    classes: int = 3,
    softmax: bool = True,
    input_name: str = "input",
    seed: int = 0,
) -> bytes:
    """GlobalAveragePool -> Flatten -> Gemm (-> Softmax): scores from the channel means."""
    rng = np.random.default_rng(seed)
    channels = int(input_shape[1]) if isinstance(input_shape[1], int) else 3
    w = numpy_helper.from_array(
        rng.standard_normal((channels, classes)).astype(np.float32) * 3, "w"
    )
    b = numpy_helper.from_array(np.arange(classes, dtype=np.float32), "b")
    out = "probabilities" if softmax else "logits"
    nodes = [
        helper.make_node("GlobalAveragePool", [input_name], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
    ]
    if softmax:
        nodes.append(helper.make_node("Softmax", ["logits"], [out], axis=1))
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, [input_shape[0], classes])],
        initializer=[w, b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()
