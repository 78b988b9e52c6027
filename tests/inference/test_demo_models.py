"""The demo models: deterministic, loadable, labelled, and marked as not for clinical use."""

from __future__ import annotations

import json
from dataclasses import replace

import onnx
import pytest

from inference.demo_models import BONE_XRAY, CHEST_XRAY, DEMO_MODELS, HEAVY_CNN, SKIN
from inference.flops import count_flops


def test_the_same_seed_gives_a_byte_identical_file() -> None:
    assert SKIN.build() == SKIN.build()
    assert replace(SKIN, seed=SKIN.seed + 1).build() != SKIN.build()


@pytest.mark.parametrize("demo", DEMO_MODELS, ids=lambda d: d.modality)
def test_each_demo_model_says_it_is_not_for_clinical_use(demo: object) -> None:
    model = onnx.load_from_string(demo.build())  # type: ignore[attr-defined]
    props = {p.key: p.value for p in model.metadata_props}
    assert "untrained demo weights, not for clinical use" in props["intendedUse"].lower()
    assert json.loads(props["labels"]) == list(demo.spec.labels)  # type: ignore[attr-defined]
    assert props["modality"] == demo.modality  # type: ignore[attr-defined]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 3, 224, 224]


def test_the_modalities_have_their_labels() -> None:
    assert CHEST_XRAY.spec.labels == ("Normal", "Pneumonia", "COVID-19")
    assert BONE_XRAY.spec.labels == ("Normal", "Fracture")
    assert len(SKIN.spec.labels) == 3


def test_the_heavy_cnn_costs_at_least_one_gflop_per_image() -> None:
    heavy = count_flops(onnx.load_from_string(HEAVY_CNN.build()))
    small = count_flops(onnx.load_from_string(SKIN.build()))
    print(f"FLOPs per 224x224 image: heavy CNN {heavy / 1e9:.2f} G, demo {small / 1e9:.3f} G")
    assert heavy >= 1_000_000_000
    assert small < heavy / 50
