"""The private servers the fault tests take down: they start, stop and come back."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from privatekit import private_postgres, private_redis

pytestmark = pytest.mark.slow


def test_a_private_redis_forgets_everything_when_it_restarts(tmp_path: Path) -> None:
    with private_redis(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url)
        client.set("plait:test", "1")
        server.restart()
        assert redis.Redis.from_url(server.url).get("plait:test") is None
        server.stop()
        assert not server.ping()


def test_a_private_postgres_stops_and_starts_with_its_data() -> None:
    with private_postgres() as server:
        engine = sa.create_engine(server.url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE kept (n int)"))
            connection.execute(sa.text("INSERT INTO kept VALUES (7)"))
        engine.dispose()
        server.stop()
        assert not server.running()
        server.start()
        assert server.running()
        engine = sa.create_engine(server.url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT n FROM kept")).scalar() == 7
        engine.dispose()
