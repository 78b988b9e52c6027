"""A model file is checked against its spec: it must be ONNX, load, and have fitting shapes."""

from __future__ import annotations

import pytest

from domain.errors import DomainError, ErrorCode
from inference.artifacts import verify_artifact
from inference.demo_models import CHEST_XRAY
from inference.spec import InputSpec, ModelSpec

from .models import linear_classifier

SPEC = ModelSpec(labels=("a", "b", "c"), input=InputSpec(height=8, width=8))


def refusal(model: bytes, spec: ModelSpec = SPEC) -> DomainError:
    with pytest.raises(DomainError) as refused:
        verify_artifact(model, spec)
    assert refused.value.code == ErrorCode.BAD_USER_INPUT
    return refused.value


def test_a_fitting_model_passes_and_reports_its_signature() -> None:
    signature = verify_artifact(linear_classifier(), SPEC)
    assert signature.input_name == "input"
    assert signature.input_shape == ("N", 3, 8, 8)
    assert signature.output_shape == ("N", 3)
    assert signature.fixed_batch is None


def test_the_demo_models_fit_their_own_specs() -> None:
    assert verify_artifact(CHEST_XRAY.build(), CHEST_XRAY.spec).input_shape[1:] == (3, 224, 224)


def test_a_file_that_is_not_onnx_is_refused() -> None:
    assert "not an ONNX model" in refusal(b"PK\x03\x04 this is a zip, not a model").message


def test_an_empty_model_file_is_refused() -> None:
    assert "empty" in refusal(b"").message


def test_a_model_with_the_wrong_input_size_is_refused() -> None:
    error = refusal(linear_classifier(input_shape=("N", 3, 16, 16)))
    assert "[N, 3, 16, 16]" in error.message and "[N, 3, 8, 8]" in error.message


def test_a_model_with_the_wrong_channel_count_is_refused() -> None:
    assert "input shape" in refusal(linear_classifier(input_shape=("N", 1, 8, 8))).message


def test_a_model_with_a_fixed_batch_above_one_is_refused() -> None:
    assert "input shape" in refusal(linear_classifier(input_shape=(4, 3, 8, 8))).message


def test_a_model_with_a_batch_of_one_passes() -> None:
    assert verify_artifact(linear_classifier(input_shape=(1, 3, 8, 8)), SPEC).fixed_batch == 1


def test_a_model_with_dynamic_height_and_width_passes() -> None:
    assert verify_artifact(linear_classifier(input_shape=("N", 3, "H", "W")), SPEC)


def test_a_model_with_another_number_of_classes_is_refused() -> None:
    error = refusal(linear_classifier(classes=2))
    assert "[N, 3]" in error.message and "one score per label" in error.message


def test_a_model_whose_input_has_another_name_is_refused() -> None:
    assert "'pixels'" in refusal(linear_classifier(input_name="pixels")).message


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: ModelSpec(labels=("only",)), "labels"),
        (lambda: ModelSpec(labels=("a", "a")), "labels"),
        (lambda: InputSpec(std=(1.0, 0.0, 1.0)), "inputSpec.std"),
        (lambda: InputSpec(height=0), "inputSpec"),
    ],
)
def test_a_spec_that_makes_no_sense_is_refused(build: object, field: str) -> None:
    with pytest.raises(DomainError) as refused:
        build()  # type: ignore[operator]
    assert refused.value.code == ErrorCode.BAD_USER_INPUT
    assert refused.value.field == field
