"""The Modality enum, declared identically by every subgraph that uses it."""

from __future__ import annotations

import strawberry

from domain.modality import Modality

strawberry.enum(Modality, description="What kind of image a study is.")

__all__ = ["Modality"]
