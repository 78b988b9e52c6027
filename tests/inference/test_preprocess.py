"""Preprocessing follows the model's InputSpec: size, channel order, normalisation, layout."""

from __future__ import annotations

import numpy as np
from PIL import Image

from inference.preprocess import preprocess
from inference.spec import InputSpec

PLAIN = InputSpec(height=4, width=6, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))


def test_output_is_nchw_float32_of_the_spec_size() -> None:
    sample = preprocess(Image.new("RGB", (50, 30), (255, 0, 0)), PLAIN)
    assert sample.shape == (3, 4, 6)
    assert sample.dtype == np.float32
    assert sample.flags["C_CONTIGUOUS"]
    assert np.allclose(sample[0], 1.0) and np.allclose(sample[1:], 0.0)


def test_bgr_models_get_blue_first() -> None:
    sample = preprocess(
        Image.new("RGB", (6, 4), (255, 0, 0)),
        InputSpec(height=4, width=6, channel_order="BGR", mean=(0, 0, 0), std=(1, 1, 1)),
    )
    assert np.allclose(sample[2], 1.0) and np.allclose(sample[0], 0.0)


def test_mean_and_std_apply_per_channel() -> None:
    spec = InputSpec(height=2, width=2, mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    sample = preprocess(Image.new("RGB", (2, 2), (255, 255, 255)), spec)
    assert np.allclose(sample[:, 0, 0], [1.0, 3.0, 0.5])


def test_center_crop_keeps_the_aspect_ratio() -> None:
    # given a wide image: red left third, green middle, blue right third
    image = Image.new("RGB", (90, 30), (0, 255, 0))
    image.paste((255, 0, 0), (0, 0, 30, 30))
    image.paste((0, 0, 255), (60, 0, 90, 30))
    spec = InputSpec(height=10, width=10, mean=(0, 0, 0), std=(1, 1, 1), resize="center_crop")
    # when it is cropped to a square, then only the green middle remains (the outermost
    # columns may blend a little with their neighbours under bilinear resampling)
    sample = preprocess(image, spec)[:, :, 1:-1]
    assert np.allclose(sample[1], 1.0, atol=0.02)
    assert np.allclose(sample[0], 0.0, atol=0.02)
    assert np.allclose(sample[2], 0.0, atol=0.02)


def test_grayscale_input_is_made_rgb() -> None:
    sample = preprocess(Image.new("L", (6, 4), 255), PLAIN)
    assert np.allclose(sample, 1.0)
