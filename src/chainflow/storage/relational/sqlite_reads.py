"""SQLite read connections that run short statements on the loop, long ones in a thread.

aiosqlite runs every DBAPI call of a connection on that connection's thread: creating a
cursor, executing, fetching, closing the cursor, BEGIN, ROLLBACK, the pool's reset. A read
unit of work with one SELECT made about ten crossings, each a queue hand-off and a wait for
the GIL back (up to the interpreter's switch interval), which cost most of an authenticated
read's latency (README, benchmarks/http.py).

``ReadConnection`` speaks the part of aiosqlite's API that SQLAlchemy's aiosqlite dialect
uses. A statement runs with the fetch of all its rows (SQLAlchemy buffers them right after
``execute`` anyway) on the event loop, under a progress handler: past ``LOOP_BUDGET_S`` the
handler interrupts it and it runs again, whole, in the executor. A SELECT on a
``query_only`` connection has no effect to undo, and SQLite keeps the read transaction (and
its snapshot) across an interrupted SELECT, so the second run reads what the first would
have. Indexed lookups (an authenticated read's) never leave the loop; a scan holds the loop
for at most the budget. A connection serves one caller at a time (the pool guarantees it),
so the sqlite3 connection is never used by two threads at once.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from typing import Any

# The longest a statement runs on the event loop before it moves to the executor.
LOOP_BUDGET_S = 0.001
# SQLite VM instructions between two checks of the budget (a check is one clock read).
_CHECK_EVERY = 1000


class _ImmediateQueue:
    """Stands in for aiosqlite's request queue: SQLAlchemy's isolation-level setter puts a
    ``(future, function)`` pair on it; the function only sets an attribute, so run it now."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as e:
            if future is not None:
                future.set_exception(e)
            return
        if future is not None:
            future.set_result(result)


class ReadCursor:
    """An aiosqlite-shaped cursor whose ``execute`` runs and fetches in the executor."""

    def __init__(self, connection: ReadConnection) -> None:
        self._owner = connection
        self._cursor = connection._conn.cursor()
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> ReadCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> ReadCursor:
        arguments = () if parameters is None else parameters
        if not self._run_within_budget(sql, arguments):
            await self._owner._in_executor(self._run, sql, arguments)
        return self

    def _run_within_budget(self, sql: str, parameters: Sequence[Any]) -> bool:
        """Run the statement here; return False if it was interrupted for taking too long."""
        deadline_s = time.perf_counter() + LOOP_BUDGET_S
        interrupted = False

        def over_budget() -> int:
            nonlocal interrupted
            interrupted = time.perf_counter() > deadline_s
            return int(interrupted)

        conn = self._owner._conn
        conn.set_progress_handler(over_budget, _CHECK_EVERY)
        try:
            self._run(sql, parameters)
        except sqlite3.OperationalError:
            if interrupted:
                return False
            raise
        finally:
            conn.set_progress_handler(None, 0)
        return True

    async def executemany(self, sql: str, parameters: Iterable[Sequence[Any]]) -> ReadCursor:
        rows = list(parameters)
        await self._owner._in_executor(self._cursor.executemany, sql, rows)
        self._capture([])
        return self

    def _run(self, sql: str, parameters: Sequence[Any]) -> None:
        self._cursor.execute(sql, parameters)
        self._capture(self._cursor.fetchall() if self._cursor.description else [])

    def _capture(self, rows: list[Any]) -> None:
        self._rows = rows
        self.description = self._cursor.description
        self.rowcount = self._cursor.rowcount
        self.lastrowid = self._cursor.lastrowid

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = self.arraysize if size is None else size
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> list[Any]:
        taken, self._rows = self._rows, []
        return taken

    async def close(self) -> None:
        self._rows = []
        self._cursor.close()


class ReadConnection:
    """An aiosqlite-shaped connection for SQLAlchemy's ``async_creator`` (reads only)."""

    def __init__(self, conn: sqlite3.Connection, executor: Executor) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # truthy while open, as aiosqlite's
        self._executor = executor
        self._tx = _ImmediateQueue()

    @classmethod
    async def open(cls, path: str, *, timeout_s: float, executor: Executor) -> ReadConnection:
        loop = asyncio.get_running_loop()
        conn = await loop.run_in_executor(
            executor,
            lambda: sqlite3.connect(path, timeout=timeout_s, check_same_thread=False),
        )
        return cls(conn, executor)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def _in_executor(self, function: Callable[..., Any], *arguments: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, function, *arguments)

    def cursor(self) -> ReadCursor:
        """Return a cursor (SQLAlchemy enters it with ``async with``, as aiosqlite's)."""
        return ReadCursor(self)

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> ReadCursor:
        cursor = ReadCursor(self)
        return await cursor.execute(sql, parameters)

    async def create_function(self, *arguments: Any, **options: Any) -> None:
        self._conn.create_function(*arguments, **options)

    async def commit(self) -> None:
        # The DBAPI commit SQLAlchemy calls (a read-only unit of work never does); the
        # statement is what sqlite3's own commit sends in autocommit-off mode.
        if self._conn.in_transaction:
            self._conn.execute("COMMIT")

    async def rollback(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    async def close(self) -> None:
        if self._connection is None:
            return
        self._connection = None
        await self._in_executor(self._conn.close)

    def stop(self) -> None:
        """Close at once (SQLAlchemy's forced terminate)."""
        self._connection = None
        self._conn.close()
