"""Administration statements on the local PostgreSQL server (throwaway databases, schemas)."""

from __future__ import annotations

import asyncio


def run_sql(dsn: str, sql: str) -> None:
    """Run one statement on the server at ``dsn`` (administration: CREATE/DROP)."""
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())
