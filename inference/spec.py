"""What a classifier expects as input and gives as output, and the check that an ONNX file fits.

A model takes one float32 tensor ``[N, 3, H, W]`` (NCHW, the batch dimension dynamic or 1) and
gives one float tensor ``[N, len(labels)]``. Pixels are scaled to ``[0, 1]``, then normalised
per channel with ``(x - mean) / std``; ``mean`` and ``std`` are listed in the model's channel
order (``RGB`` or ``BGR``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import onnx
from google.protobuf.message import DecodeError

from domain.errors import bad_input

ChannelOrder = Literal["RGB", "BGR"]
ResizeMode = Literal["stretch", "center_crop"]
Dim = int | str | None

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True, slots=True)
class InputSpec:
    name: str = "input"
    height: int = 224
    width: int = 224
    channel_order: ChannelOrder = "RGB"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    resize: ResizeMode = "stretch"
    layout: Literal["NCHW"] = "NCHW"
    dtype: Literal["float32"] = "float32"

    def __post_init__(self) -> None:
        if not self.name:
            raise bad_input("The input name is empty", field="inputSpec.name")
        if self.height < 1 or self.width < 1:
            raise bad_input("Input height and width must be positive", field="inputSpec")
        if self.channel_order not in ("RGB", "BGR"):
            raise bad_input("Channel order must be RGB or BGR", field="inputSpec.channelOrder")
        if self.resize not in ("stretch", "center_crop"):
            raise bad_input("Resize must be stretch or center_crop", field="inputSpec.resize")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise bad_input("Mean and std need one value per channel (3)", field="inputSpec")
        if not all(math.isfinite(m) for m in self.mean):
            raise bad_input("Mean values must be finite", field="inputSpec.mean")
        if not all(math.isfinite(s) and s > 0 for s in self.std):
            raise bad_input("Std values must be finite and positive", field="inputSpec.std")


@dataclass(frozen=True, slots=True)
class ModelSpec:
    labels: tuple[str, ...]
    input: InputSpec = InputSpec()

    def __post_init__(self) -> None:
        if len(self.labels) < 2:
            raise bad_input("A classifier needs at least two labels", field="labels")
        if any(not label.strip() for label in self.labels):
            raise bad_input("Labels must not be blank", field="labels")
        if len(set(self.labels)) != len(self.labels):
            raise bad_input("Labels must be unique", field="labels")


@dataclass(frozen=True, slots=True)
class Signature:
    """The input and output a loaded model really has."""

    input_name: str
    input_shape: tuple[Dim, ...]
    output_name: str
    output_shape: tuple[Dim, ...]

    @property
    def fixed_batch(self) -> int | None:
        """1 when the model only takes one image per run; None when the batch is dynamic."""
        first = self.input_shape[0]
        return first if isinstance(first, int) else None


class _TensorInfo(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def shape(self) -> Sequence[Dim]: ...
    @property
    def type(self) -> str: ...


class SessionLike(Protocol):
    """The part of ``onnxruntime.InferenceSession`` the check reads."""

    def get_inputs(self) -> Sequence[_TensorInfo]: ...
    def get_outputs(self) -> Sequence[_TensorInfo]: ...


def parse_onnx(model: bytes | Path) -> Any:
    """The ``onnx.ModelProto`` of ``model``, refused unless it parses and passes the checker."""
    data = model.read_bytes() if isinstance(model, Path) else model
    if not data:
        raise bad_input("The model file is empty", field="file")
    try:
        proto = onnx.load_from_string(data)
    except (DecodeError, ValueError) as exc:
        raise bad_input("The file is not an ONNX model", field="file") from exc
    if not proto.graph.node:
        raise bad_input("The file is not an ONNX model (no graph)", field="file")
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else "invalid"
        raise bad_input(f"The ONNX model is invalid: {first_line}", field="file") from exc
    return proto


def check_signature(session: SessionLike, spec: ModelSpec) -> Signature:
    """Refuse a model whose single input or first output does not fit ``spec``."""
    wanted = spec.input
    inputs = list(session.get_inputs())
    outputs = list(session.get_outputs())
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise bad_input(f"The model must take exactly one input, it takes: {names}", field="file")
    (given,) = inputs
    if given.name != wanted.name:
        raise bad_input(
            f"The model's input is named {given.name!r}, the spec says {wanted.name!r}",
            field="file",
        )
    if given.type != "tensor(float)":
        raise bad_input(f"The model's input must be float32, it is {given.type}", field="file")
    shape = tuple(given.shape)
    expected = f"[N, 3, {wanted.height}, {wanted.width}]"
    if len(shape) != 4:
        raise bad_input(
            f"The model's input shape is {_show(shape)}, expected {expected}", field="file"
        )
    batch, channels, height, width = shape
    fits = (
        (not isinstance(batch, int) or batch == 1)
        and channels == 3
        and _fits(height, wanted.height)
        and _fits(width, wanted.width)
    )
    if not fits:
        raise bad_input(
            f"The model's input shape is {_show(shape)}, expected {expected}", field="file"
        )
    if not outputs:
        raise bad_input("The model has no output", field="file")
    output = outputs[0]
    out_shape = tuple(output.shape)
    n_labels = len(spec.labels)
    if output.type not in ("tensor(float)", "tensor(double)", "tensor(float16)"):
        raise bad_input(f"The model's output must be float, it is {output.type}", field="file")
    if len(out_shape) != 2 or out_shape[1] != n_labels or not _same_batch(batch, out_shape[0]):
        raise bad_input(
            f"The model's output shape is {_show(out_shape)}, expected [N, {n_labels}] "
            "(one score per label)",
            field="file",
        )
    return Signature(given.name, shape, output.name, out_shape)


def _fits(dim: Dim, wanted: int) -> bool:
    return dim == wanted or not isinstance(dim, int)


def _same_batch(input_batch: Dim, output_batch: Dim) -> bool:
    if isinstance(output_batch, int):
        return output_batch == input_batch
    return True


def _show(shape: tuple[Dim, ...]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
