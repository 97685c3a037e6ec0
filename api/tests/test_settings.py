"""Settings: one clear line and exit 2 for a bad one, in every verb that reads them; the
secret key's rules; and migrating before any verb touches the database."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from plait.api.db.migrate import downgrade
from plait.api.platform import Platform
from plait.api.settings import MIN_SECRET_KEY_CHARS, SettingsError, load_settings

# Every verb that reads the settings, with arguments that would otherwise be fine.
VERBS = [
    ["serve"],
    ["admin", "create-token", "--workspace", "acme"],
    ["export", "sample", "out"],
    ["import", "."],
]


# -- the secret key ---------------------------------------------------------------------------


def test_a_secret_key_under_32_characters_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(data_dir=tmp_path, secret_key="k" * (MIN_SECRET_KEY_CHARS - 1))
    assert str(caught.value).startswith("bad setting PLAIT_SECRET_KEY:")
    assert "\n" not in str(caught.value)
    settings = load_settings(data_dir=tmp_path, secret_key="k" * MIN_SECRET_KEY_CHARS)
    assert settings.master_key == b"k" * MIN_SECRET_KEY_CHARS
    assert not (tmp_path / "secret.key").exists()  # a given key is never written down


def test_a_generated_key_is_written_once_for_the_owner_only(tmp_path: Path) -> None:
    data = tmp_path / "data"
    key = load_settings(data_dir=data).master_key
    path = data / "secret.key"
    assert len(key) >= MIN_SECRET_KEY_CHARS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = path.read_bytes()
    # Later starts read the same key; the file is not rewritten.
    assert load_settings(data_dir=data).master_key == key
    assert path.read_bytes() == written


def test_the_secret_key_is_never_shown(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, secret_key="s" * 40)
    assert "s" * 40 not in repr(settings)


# -- one line, exit 2 ---------------------------------------------------------------------------


@pytest.mark.parametrize("verb", VERBS, ids=lambda v: " ".join(v[:2]))
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PLAIT_PORT", "eighty", "error: bad setting PLAIT_PORT: Input should be a valid integer"),
        ("PLAIT_PORT", "70000", "error: bad setting PLAIT_PORT: Input should be less than"),
        (
            "PLAIT_SECRET_KEY",
            "short",
            "error: bad setting PLAIT_SECRET_KEY: must be at least 32 characters",
        ),
        (
            "PLAIT_DATABASE_URL",
            "mysql://db/plait",
            "error: bad setting PLAIT_DATABASE_URL: must be a sqlite:/// or postgresql:// URL",
        ),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_2(
    cli: Any,
    monkeypatch: pytest.MonkeyPatch,
    verb: list[str],
    name: str,
    value: str,
    message: str,
) -> None:
    monkeypatch.setenv(name, value)
    result = cli(*verb)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message), lines[0]
    assert result.stdout == ""


@pytest.mark.slow
def test_a_bad_setting_stops_a_real_serve_with_one_line(
    plait_proc: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLAIT_RUN_WORKERS", "0")
    result = plait_proc("serve")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: bad setting PLAIT_RUN_WORKERS: Input should be greater than or equal to 1"
    ]


def test_serve_refuses_one_port_for_the_api_and_the_router(cli: Any) -> None:
    result = cli("serve", "--port", "9000", "--router-port", "9000")
    assert result.exit_code == 2
    assert "the router port and the API port are both 9000" in result.stderr


def test_options_are_checked_before_settings(cli: Any) -> None:
    result = cli("serve", "--port", "0")
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.stderr


# -- migrating first ------------------------------------------------------------------------------


def test_every_database_verb_brings_an_older_database_to_head(
    cli: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform = Platform(load_settings(data_dir=data_dir))
    platform.migrate()
    downgrade(platform.db.engine, "base")  # an "older" database: nothing but alembic's table
    assert "workspaces" not in inspect(platform.db.engine).get_table_names()
    result = cli("admin", "create-token", "--workspace", "acme")
    assert result.exit_code == 0, result.output
    assert "workspaces" in inspect(platform.db.engine).get_table_names()
    platform.db.dispose()

    # export (and import) of a database that does not even exist yet
    fresh = tmp_path / "fresh"
    monkeypatch.setenv("PLAIT_DATA_DIR", str(fresh))
    result = cli("export", "nope", tmp_path / "out")
    assert result.exit_code == 2 and "no project 'nope'" in result.stderr
    assert (fresh / "plait.db").exists()
