"""Turn an RGB image into the ``[3, H, W]`` float32 sample a model's InputSpec asks for.

Pure and blocking (resizing a large photo takes milliseconds): callers run it in a worker
thread. The batcher stacks samples into ``[N, 3, H, W]``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps

from inference.spec import InputSpec

Tensor = NDArray[np.float32]


def preprocess(image: Image.Image, spec: InputSpec) -> Tensor:
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    size = (spec.width, spec.height)
    if spec.resize == "center_crop":
        resized = ImageOps.fit(rgb, size, method=Image.Resampling.BILINEAR)
    elif rgb.size != size:
        resized = rgb.resize(size, Image.Resampling.BILINEAR)
    else:
        resized = rgb
    pixels = np.asarray(resized, dtype=np.float32) * np.float32(1.0 / 255.0)  # H, W, RGB
    if spec.channel_order == "BGR":
        pixels = pixels[:, :, ::-1]
    mean = np.asarray(spec.mean, dtype=np.float32)
    inv_std = np.float32(1.0) / np.asarray(spec.std, dtype=np.float32)
    normalised = (pixels - mean) * inv_std
    return np.ascontiguousarray(normalised.transpose(2, 0, 1))


def blank_batch(spec: InputSpec, size: int) -> Tensor:
    """Zeros in the model's input shape, for warm-up."""
    return np.zeros((size, 3, spec.height, spec.width), dtype=np.float32)
