"""Migrations run up, down to base and up again on SQLite and PostgreSQL, and agree with
the models (autogenerate finds no difference)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from servicekit import postgres_database
from sqlalchemy import inspect, text

from plait.api.db.migrate import downgrade, upgrade
from plait.api.db.models import Base
from plait.api.db.session import Database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'plait.db'}")
        yield db
        db.dispose()
        return
    with postgres_database() as url:
        db = Database(url.replace("postgresql://", "postgresql+psycopg://"))
        yield db
        db.dispose()


def tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names()) - {"alembic_version"}


def test_up_down_up(database: Database) -> None:
    upgrade(database.engine)
    assert tables(database) == set(Base.metadata.tables)
    downgrade(database.engine, "base")
    assert tables(database) == set()
    upgrade(database.engine)
    assert tables(database) == set(Base.metadata.tables)
    upgrade(database.engine)  # already current: nothing to do


def test_models_and_migrations_agree(database: Database) -> None:
    upgrade(database.engine)
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()
