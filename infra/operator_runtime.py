"""What an operator's shell command runs on: a runtime, and refusals told as one line."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import OperationalError, ProgrammingError

from domain.errors import DomainError
from infra.container import Runtime, build_runtime
from infra.settings import Settings


class CommandError(Exception):
    """A command's refusal: printed as ``error: ...``, exit status 1, no traceback."""


@asynccontextmanager
async def operator_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = build_runtime(settings)
    try:
        yield runtime
    except DomainError as error:
        raise CommandError(error.message) from None
    except (OperationalError, ProgrammingError):
        raise CommandError(
            "the database has no tables yet; run `caregraph migrate` first"
        ) from None
    finally:
        await runtime.close()
