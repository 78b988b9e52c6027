"""Alembic migrations build exactly the tables the code declares, on both engines."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection

from infra.container import Runtime
from infra.db.migrate import alembic_config, migrate
from infra.db.tables import metadata


async def test_migrated_schema_matches_the_tables(runtime: Runtime) -> None:
    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    async with runtime.engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_migrating_again_is_a_no_op(runtime: Runtime) -> None:
    await migrate(runtime.engine)

    def revision(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with runtime.engine.connect() as conn:
        current = await conn.run_sync(revision)
    assert current == ScriptDirectory.from_config(alembic_config()).get_current_head()
