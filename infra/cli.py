"""The ``caregraph`` command: serve, migrate, load demo data, manage users, check SDL."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence
from dataclasses import replace

from domain.principal import Role
from infra.container import build_runtime
from infra.db.migrate import migrate
from infra.demo import load_demo
from infra.http.requests import RequestIdLogFilter
from infra.models.commands import add_commands as add_model_commands
from infra.models.commands import import_model
from infra.models.demo import register_demo_models
from infra.operator_runtime import CommandError, operator_runtime
from infra.settings import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [request_id=%(request_id)s] %(message)s"


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdLogFilter())
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def serve(settings: Settings) -> None:
    import uvicorn

    from infra.http.app import create_app

    runtime = build_runtime(settings)
    what = f"subgraph {settings.subgraph}" if settings.subgraph else "composed graph"
    logging.getLogger("caregraph").info(
        "serving the %s at http://%s:%d/graphql", what, settings.host, settings.port
    )
    uvicorn.run(
        create_app(runtime),
        host=settings.host,
        port=settings.port,
        log_config=None,
        ws="websockets-sansio",
        proxy_headers=False,
    )


async def _migrate(settings: Settings) -> None:
    runtime = build_runtime(settings)
    try:
        await migrate(runtime.engine)
    finally:
        await runtime.close()


async def _demo(settings: Settings) -> None:
    runtime = build_runtime(settings)
    try:
        created = await load_demo(runtime)
        models = await register_demo_models(runtime.services.registry)
    finally:
        await runtime.close()
    for version in models:
        print(f"Demo model {version.modality.value} {version.version}: {version.status.value}")
    if not created:
        print("Demo users exist already; their passwords were printed when they were created.")
        return
    print("Demo users (passwords are shown this once):")
    for demo, password in created:
        print(f"  {demo.role.value:<8} {demo.email:<28} {password}")


async def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    if sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    async with operator_runtime(settings) as runtime:
        user = await runtime.services.users.create_user(
            email=args.email,
            password=password,
            display_name=args.display_name,
            role=Role(args.role),
            specialty=args.specialty,
            request_id="cli",
        )
    print(f"created {user.role.value} {user.email} ({user.id})")
    return 0


def _sdl(args: argparse.Namespace) -> int:
    from schema.snapshots import (
        SupergraphError,
        check_snapshots,
        check_supergraph,
        write_snapshots,
        write_supergraph,
    )

    try:
        if args.write:
            for path in [*write_snapshots(), write_supergraph()]:
                print(f"wrote {path}")
            return 0
        drift = check_snapshots() + check_supergraph()
    except SupergraphError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in drift:
        print(f"out of date: {path} (run: caregraph sdl --write)", file=sys.stderr)
    return 1 if drift else 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="caregraph", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve the graph (or one subgraph)")
    serve_cmd.add_argument("--subgraph", default=None, help="serve this subgraph alone")
    serve_cmd.add_argument("--host", default=None)
    serve_cmd.add_argument("--port", type=int, default=None)
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser(
        "demo", help="load demo users (printing their passwords once) and the demo models"
    )
    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create a user; the password is read from stdin")
    create.add_argument("--email", required=True)
    create.add_argument("--role", required=True, choices=[role.value for role in Role])
    create.add_argument("--display-name", required=True)
    create.add_argument("--specialty", default=None, help="for doctors")
    add_model_commands(commands)
    sdl = commands.add_parser(
        "sdl",
        help="write or check the subgraph SDL snapshots (schema/sdl/) and the supergraph",
    )
    mode = sdl.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = Settings.from_env()
    configure_logging(settings.log_level)
    try:
        return run(args, settings)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        settings = replace(
            settings,
            subgraph=args.subgraph if args.subgraph is not None else settings.subgraph,
            host=args.host or settings.host,
            port=args.port or settings.port,
        )
        serve(settings)
        return 0
    if args.command == "migrate":
        asyncio.run(_migrate(settings))
        print("database is at the latest migration")
        return 0
    if args.command == "demo":
        asyncio.run(_demo(settings))
        return 0
    if args.command == "models":
        return asyncio.run(import_model(settings, args))
    if args.command == "users":
        return asyncio.run(_create_user(settings, args))
    return _sdl(args)


if __name__ == "__main__":
    sys.exit(main())
