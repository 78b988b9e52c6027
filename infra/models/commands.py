"""``caregraph models import``: register an ONNX file from the shell, as the API would."""

from __future__ import annotations

import argparse
from pathlib import Path

from domain.modality import Modality
from domain.principal import Principal, Role
from infra.operator_runtime import CommandError, operator_runtime
from infra.settings import Settings

OPERATOR = Principal(user_id="", role=Role.ADMIN, request_id="cli")


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = commands.add_parser("models", help="manage the model registry").add_subparsers(
        dest="models_command", required=True
    )
    imported = models.add_parser(
        "import",
        help="register an ONNX file as a new TESTING version (refused unless it loads and fits)",
    )
    imported.add_argument("file", type=Path)
    imported.add_argument("--model", required=True, help="the model's name")
    imported.add_argument("--version", required=True, help="a semantic version, e.g. 1.2.0")
    imported.add_argument("--intended-use", required=True)
    imported.add_argument("--activate", action="store_true", help="make it the ACTIVE version")
    imported.add_argument(
        "--modality", choices=[m.value for m in Modality], help="to create a new model"
    )
    imported.add_argument("--labels", help="comma-separated, to create a new model")


async def import_model(settings: Settings, args: argparse.Namespace) -> int:
    try:
        artifact = args.file.read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {args.file}: {error.strerror}") from None
    labels = [label for label in (args.labels or "").split(",") if label.strip()]
    async with operator_runtime(settings) as runtime:
        model, version = await runtime.services.registry.import_version(
            OPERATOR,
            model_name=args.model,
            modality=Modality(args.modality) if args.modality else None,
            labels=labels or None,
            version=args.version,
            artifact=artifact,
            intended_use=args.intended_use,
            activate=args.activate,
        )
    print(
        f"registered {model.name} {version.version} ({version.id}): {version.status.value}, "
        f"sha256 {version.sha256}"
    )
    return 0
