"""Imaging modalities: what kind of picture a study is, and so which classifier reads it."""

from __future__ import annotations

from enum import StrEnum


class Modality(StrEnum):
    SKIN = "SKIN"
    CHEST_XRAY = "CHEST_XRAY"
    BONE_XRAY = "BONE_XRAY"
