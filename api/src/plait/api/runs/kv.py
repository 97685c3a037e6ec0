"""The durable key-value store nodes reach through ``ctx.kv``: rows of ``kv_entries``.

One namespace per flow (its id), shared by every run of the flow and kept across
restarts, so a flow can remember a cursor, a counter or a token between runs.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite

from plait.node_runner.errors import NodeError

from ..db.models import Base, new_id
from ..db.session import Database

MAX_KEY_CHARS = 500
MAX_VALUE_BYTES = 1024 * 1024
KIND_KV = "kv"

_KV = Base.metadata.tables["kv_entries"]


class DatabaseKeyValueStore:
    """``KeyValueStore`` over ``kv_entries``; each call is one short transaction in a
    worker thread. Values are JSON (up to 1 MiB)."""

    def __init__(self, db: Database, workspace_id: str, namespace: str) -> None:
        self.db = db
        self.workspace_id = workspace_id
        self.namespace = namespace

    async def get(self, key: str, default: Any = None) -> Any:
        _check_key(key)
        return await asyncio.to_thread(self._get, key, default)

    async def set(self, key: str, value: Any) -> None:
        _check_key(key)
        value = to_jsonable_python(value)
        if len(json.dumps(value, separators=(",", ":"))) > MAX_VALUE_BYTES:
            raise NodeError(KIND_KV, f"value for key {key!r} is over {MAX_VALUE_BYTES} bytes")
        await asyncio.to_thread(self._set, key, value)

    async def delete(self, key: str) -> None:
        _check_key(key)
        await asyncio.to_thread(self._delete, key)

    def _where(self, key: str) -> Any:
        return (
            (_KV.c.workspace_id == self.workspace_id)
            & (_KV.c.namespace == self.namespace)
            & (_KV.c.key == key)
        )

    def _get(self, key: str, default: Any) -> Any:
        with self.db.engine.connect() as connection:
            row = connection.execute(select(_KV.c.value).where(self._where(key))).first()
        return default if row is None else row[0]

    def _set(self, key: str, value: Any) -> None:
        dialect = sqlite if self.db.is_sqlite else postgresql
        now = datetime.now(UTC)
        statement = dialect.insert(_KV).values(
            id=new_id(),
            workspace_id=self.workspace_id,
            namespace=self.namespace,
            key=key,
            value=value,
            updated_at=now,
        )
        # One statement, so concurrent writers of a key never collide on the unique index.
        statement = statement.on_conflict_do_update(
            index_elements=[_KV.c.namespace, _KV.c.key],
            set_={"value": statement.excluded.value, "updated_at": now},
        )
        with self.db.engine.begin() as connection:
            connection.execute(statement)

    def _delete(self, key: str) -> None:
        with self.db.engine.begin() as connection:
            connection.execute(delete(_KV).where(self._where(key)))


def _check_key(key: str) -> None:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_CHARS:
        raise NodeError(KIND_KV, f"a key is a string of 1 to {MAX_KEY_CHARS} characters")
