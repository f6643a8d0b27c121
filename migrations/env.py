"""Alembic environment: migrates the database named by DATABASE_URL, with asyncpg."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from adapters.db import async_url, metadata
from settings import Settings


def _migrate(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run() -> None:
    engine = create_async_engine(async_url(context.config.attributes.get("url") or Settings().require_database_url()))
    async with engine.connect() as connection:
        await connection.run_sync(_migrate)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: point DATABASE_URL at a server")
asyncio.run(_run())
