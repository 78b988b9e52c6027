"""Demo classifiers built with the ``onnx`` helper API: untrained, deterministic, small.

Three per-modality models (SKIN, CHEST_XRAY, BONE_XRAY) and one heavier CNN for benchmarks.
Weights come from a seeded generator, so one seed always gives a byte-identical file. They
classify nothing meaningfully: every model says so in its ``intendedUse``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from inference.spec import InputSpec, ModelSpec

OPSET = 17
IR_VERSION = 8  # readable by every ONNX Runtime from 1.13 on
INTENDED_USE = (
    "Untrained demo weights, not for clinical use: a placeholder {modality} classifier that "
    "exercises the inference path; its outputs carry no diagnostic meaning."
)


@dataclass(frozen=True, slots=True)
class ConvLayer:
    out_channels: int
    kernel: int
    stride: int


@dataclass(frozen=True, slots=True)
class Architecture:
    convs: tuple[ConvLayer, ...]
    hidden: int  # width of the dense layer after global pooling; 0 for none
    softmax: bool  # output probabilities (True) or logits (False)


# Patchify stem then two strided convs: about 0.05 GFLOP per 224x224 image.
SMALL = Architecture(
    convs=(ConvLayer(16, 4, 4), ConvLayer(32, 3, 2), ConvLayer(64, 3, 2)),
    hidden=128,
    softmax=True,
)
# VGG-like stack: about 2.7 GFLOP per image (see tests/inference/test_demo_models.py).
HEAVY = Architecture(
    convs=(
        ConvLayer(32, 3, 2),
        ConvLayer(64, 3, 1),
        ConvLayer(128, 3, 2),
        ConvLayer(128, 3, 1),
        ConvLayer(256, 3, 2),
        ConvLayer(256, 3, 1),
    ),
    hidden=256,
    softmax=False,
)


@dataclass(frozen=True, slots=True)
class DemoModel:
    modality: str
    name: str
    version: str
    spec: ModelSpec
    intended_use: str
    architecture: Architecture
    seed: int

    def build(self) -> bytes:
        return build_model(self).SerializeToString()


def _demo(modality: str, name: str, labels: tuple[str, ...], seed: int) -> DemoModel:
    return DemoModel(
        modality=modality,
        name=name,
        version="0.1.0",
        spec=ModelSpec(labels=labels, input=InputSpec()),
        intended_use=INTENDED_USE.format(modality=modality),
        architecture=SMALL,
        seed=seed,
    )


SKIN = _demo("SKIN", "skin-lesion-demo", ("Benign nevus", "Melanoma", "Seborrheic keratosis"), 11)
CHEST_XRAY = _demo("CHEST_XRAY", "chest-xray-demo", ("Normal", "Pneumonia", "COVID-19"), 12)
BONE_XRAY = _demo("BONE_XRAY", "bone-xray-demo", ("Normal", "Fracture"), 13)
DEMO_MODELS = (SKIN, CHEST_XRAY, BONE_XRAY)

HEAVY_CNN = DemoModel(
    modality="SKIN",
    name="heavy-cnn-bench",
    version="0.1.0",
    spec=ModelSpec(labels=("Benign nevus", "Melanoma", "Seborrheic keratosis")),
    intended_use=INTENDED_USE.format(modality="benchmark"),
    architecture=HEAVY,
    seed=21,
)


def build_model(demo: DemoModel) -> onnx.ModelProto:
    rng = np.random.default_rng(demo.seed)
    spec = demo.spec.input
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []
    current, channels = spec.name, 3

    def tensor(name: str, array: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(array.astype(np.float32), name))
        return name

    for index, layer in enumerate(demo.architecture.convs):
        fan_in = channels * layer.kernel * layer.kernel
        w = rng.standard_normal((layer.out_channels, channels, layer.kernel, layer.kernel))
        w *= np.sqrt(2.0 / fan_in)
        b = np.zeros(layer.out_channels)
        pad = 0 if layer.kernel == layer.stride else layer.kernel // 2
        conv_out = f"conv{index}"
        nodes.append(
            helper.make_node(
                "Conv",
                [current, tensor(f"conv{index}.w", w), tensor(f"conv{index}.b", b)],
                [conv_out],
                kernel_shape=[layer.kernel, layer.kernel],
                strides=[layer.stride, layer.stride],
                pads=[pad] * 4,
            )
        )
        nodes.append(helper.make_node("Relu", [conv_out], [f"relu{index}"]))
        current, channels = f"relu{index}", layer.out_channels

    nodes.append(helper.make_node("GlobalAveragePool", [current], ["pooled"]))
    nodes.append(helper.make_node("Flatten", ["pooled"], ["features"], axis=1))
    current, width = "features", channels
    if demo.architecture.hidden:
        hidden = demo.architecture.hidden
        w = rng.standard_normal((width, hidden)) * np.sqrt(2.0 / width)
        nodes.append(
            helper.make_node(
                "Gemm", [current, tensor("fc.w", w), tensor("fc.b", np.zeros(hidden))], ["fc"]
            )
        )
        nodes.append(helper.make_node("Relu", ["fc"], ["fc_relu"]))
        current, width = "fc_relu", hidden
    n_labels = len(demo.spec.labels)
    w = rng.standard_normal((width, n_labels)) * np.sqrt(1.0 / width)
    head = "probabilities" if demo.architecture.softmax else "logits"
    logits = "logits"
    nodes.append(
        helper.make_node(
            "Gemm", [current, tensor("head.w", w), tensor("head.b", np.zeros(n_labels))], [logits]
        )
    )
    if demo.architecture.softmax:
        nodes.append(helper.make_node("Softmax", [logits], [head], axis=1))

    graph = helper.make_graph(
        nodes,
        demo.name,
        [
            helper.make_tensor_value_info(
                spec.name, TensorProto.FLOAT, ["N", 3, spec.height, spec.width]
            )
        ],
        [helper.make_tensor_value_info(head, TensorProto.FLOAT, ["N", n_labels])],
        initializer=weights,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="caregraph.inference.demo_models",
        producer_version=demo.version,
        doc_string=demo.intended_use,
    )
    helper.set_model_props(
        model,
        {
            "modality": demo.modality,
            "version": demo.version,
            "labels": json.dumps(list(demo.spec.labels)),
            "intendedUse": demo.intended_use,
        },
    )
    onnx.checker.check_model(model)
    return model
