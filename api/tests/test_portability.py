"""``plait export`` / ``plait import``: projects as canonical files, round trips, updates."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from clikit import EXAMPLES
from servicekit import postgres_database
from sqlalchemy import select

from plait.api.crypto import SecretBox
from plait.api.db.models import Flow, Project, Secret
from plait.api.platform import Platform
from plait.api.portability import (
    PortabilityError,
    check_slug,
    flow_file_names,
    seed_sample_project,
    slugify,
)
from plait.api.services.auth import get_or_create_workspace
from plait.api.settings import load_settings


@contextmanager
def platform_at(data_dir: Path, database_url: str | None = None) -> Iterator[Platform]:
    settings = load_settings(data_dir=data_dir, database_url=database_url)
    platform = Platform(settings)
    platform.migrate()
    try:
        yield platform
    finally:
        platform.db.dispose()


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def _flow(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "name": name,
        "nodes": [{"id": "start", "type": "trigger.manual", "version": 1}],
        "edges": [],
        **extra,
    }


@pytest.fixture
def source(data_dir: Path) -> Platform:
    """The CLI's platform (PLAIT_DATA_DIR), with the sample project and some awkward names."""
    with platform_at(data_dir) as platform:
        with platform.db.session() as session:
            workspace = get_or_create_workspace(session, "default")
            made = seed_sample_project(session, workspace.id, EXAMPLES)
            assert made is not None
            project = made[0]
            for name in ("hello", "Ünïcode \u2013 flow", "???", "Hello!"):
                session.add(
                    Flow(
                        workspace_id=workspace.id,
                        project_id=project.id,
                        name=name,
                        document=_flow(name),
                    )
                )
            # A secret of the project: never part of an export.
            session.add(
                Secret(
                    workspace_id=workspace.id,
                    project_id=project.id,
                    name="STRIPE_KEY",
                    ciphertext=SecretBox(platform.settings.master_key).seal("sk_live_123", "test"),
                )
            )
        yield platform


# -- names ----------------------------------------------------------------------------------


def test_file_names_are_slugs_made_unique_in_order() -> None:
    assert slugify("Greet (v2)!") == "greet-v2"
    assert slugify("Ünïcode \u2013 flow") == "unicode-flow"
    assert slugify("x" * 100) == "x" * 60
    assert flow_file_names(["Hello", "hello!", "???", "", "hello-2"]) == [
        "hello.json",
        "hello-2.json",
        "flow.json",
        "flow-2.json",
        "hello-2-2.json",
    ]


@pytest.mark.parametrize("slug", ["", "-a", "a-", "A", "a_b", "x" * 58])
def test_bad_slugs_are_refused(slug: str) -> None:
    with pytest.raises(PortabilityError, match="not a valid project slug"):
        check_slug(slug)


# -- export ----------------------------------------------------------------------------------


def test_export_writes_canonical_files_and_no_secrets(
    cli: Any, source: Platform, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    result = cli("export", "sample", out)
    assert result.exit_code == 0, result.output
    total = len(list(EXAMPLES.glob("*.json"))) + 4
    assert f"exported project 'sample' ({total} flows)" in result.stderr
    manifest = json.loads((out / "project.json").read_text())
    assert manifest["format"] == 1
    assert (manifest["name"], manifest["slug"], manifest["stages"]) == (
        "Sample",
        "sample",
        ["dev", "prod"],
    )
    files = manifest["flows"]
    assert len(files) == total and files == sorted(files, key=files.index)
    # Name order decides who gets the plain slug: "Hello" < "Hello!" < "hello".
    assert {"flows/hello.json", "flows/hello-2.json", "flows/hello-3.json"} <= set(files)
    assert "flows/flow.json" in files and "flows/unicode-flow.json" in files
    hello = json.loads((out / "flows" / "hello.json").read_text())
    assert hello["name"] == "Hello"  # examples/hello.json
    # Example files are canonical already: the export holds the same bytes.
    assert (out / "flows" / "hello.json").read_bytes() == (EXAMPLES / "hello.json").read_bytes()
    for path in out.rglob("*"):
        assert b"STRIPE_KEY" not in path.read_bytes() if path.is_file() else True
        assert b"sk_live" not in path.read_bytes() if path.is_file() else True


def test_exporting_again_mirrors_the_project(cli: Any, source: Platform, tmp_path: Path) -> None:
    out = tmp_path / "export"
    assert cli("export", "sample", out).exit_code == 0
    before = _files(out)
    assert cli("export", "sample", out).exit_code == 0
    assert _files(out) == before  # the same project, the same bytes
    with source.db.session() as session:
        session.delete(session.scalar(select(Flow).where(Flow.name == "???")))
    result = cli("export", "sample", out)
    assert "removed 1 stale file" in result.stderr
    assert not (out / "flows" / "flow.json").exists()


def test_export_refuses_a_directory_that_is_not_an_export(
    cli: Any, source: Platform, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = cli("export", "sample", tmp_path)
    assert result.exit_code == 2
    assert "is not empty and holds no project.json" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_export_of_an_unknown_project_names_the_known_ones(
    cli: Any, source: Platform, tmp_path: Path
) -> None:
    result = cli("export", "nope", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: no project 'nope'; the projects are: sample"


# -- round trips ------------------------------------------------------------------------------


def test_export_import_export_gives_the_same_bytes(
    cli: Any, source: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli("export", "sample", first).exit_code == 0
    monkeypatch.setenv("PLAIT_DATA_DIR", str(tmp_path / "fresh"))
    result = cli("import", first)
    assert result.exit_code == 0, result.output
    assert "created project 'sample' in workspace 'default'" in result.stderr
    assert cli("export", "sample", second).exit_code == 0
    assert _files(second) == _files(first)


@pytest.mark.slow
def test_the_round_trip_through_postgresql(
    cli: Any, source: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL sorts names by its collation, SQLite by code point: file names must not care.
    first, second = tmp_path / "first", tmp_path / "second"
    assert cli("export", "sample", first).exit_code == 0
    with postgres_database() as url:
        monkeypatch.setenv("PLAIT_DATABASE_URL", url)
        assert cli("import", first, "--workspace", "acme").exit_code == 0
        assert cli("export", "sample", second).exit_code == 0
    assert _files(second) == _files(first)


def test_import_updates_flows_by_name(
    cli: Any, source: Platform, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "export"
    assert cli("export", "sample", out).exit_code == 0
    monkeypatch.setenv("PLAIT_DATA_DIR", str(tmp_path / "fresh"))
    assert cli("import", out).exit_code == 0
    again = cli("import", out)
    assert "updated project 'sample'" in again.stderr and "0 created" not in again.stderr
    assert "unchanged" in again.stderr and "updated)" not in again.stderr

    hello = out / "flows" / "hello.json"
    document = json.loads(hello.read_text())
    document["description"] = "changed in git"
    hello.write_text(json.dumps(document))
    (out / "flows" / "new.json").write_text(json.dumps(_flow("Brand new")))
    manifest = json.loads((out / "project.json").read_text())
    manifest["flows"].append("flows/new.json")
    (out / "project.json").write_text(json.dumps(manifest))

    result = cli("import", out)
    assert result.exit_code == 0, result.output
    assert "1 created, 1 updated" in result.stderr
    with platform_at(tmp_path / "fresh") as platform, platform.db.session() as session:
        row = session.scalar(select(Flow).where(Flow.name == "Hello"))
        assert row is not None
        assert row.revision == 2 and row.document["description"] == "changed in git"
        assert session.scalar(select(Flow).where(Flow.name == "Brand new")) is not None


def test_import_into_a_named_workspace_under_another_slug(
    cli: Any, source: Platform, tmp_path: Path
) -> None:
    out = tmp_path / "export"
    assert cli("export", "sample", out).exit_code == 0
    # The slug is taken (by the source project, in another workspace)...
    taken = cli("import", out, "--workspace", "acme")
    assert taken.exit_code == 2
    assert "the project slug 'sample' is taken by another workspace" in taken.stderr
    # ...so import a copy under a new one.
    result = cli("import", out, "--workspace", "acme", "--slug", "sample-copy")
    assert result.exit_code == 0, result.output
    assert "created project 'sample-copy' in workspace 'acme'" in result.stderr
    with source.db.session() as session:
        copy = session.scalar(select(Project).where(Project.slug == "sample-copy"))
        assert copy is not None and copy.name == "Sample"


def test_an_import_is_all_or_nothing(cli: Any, tmp_path: Path, data_dir: Path) -> None:
    out = tmp_path / "export"
    (out / "flows").mkdir(parents=True)
    (out / "flows" / "a.json").write_text(json.dumps(_flow("A")))
    (out / "flows" / "b.json").write_text(json.dumps(_flow("B")))
    manifest = {"format": 1, "name": "P", "slug": "p", "stages": ["dev", "prod", "qa"]}
    (out / "project.json").write_text(json.dumps(manifest))
    result = cli("import", out)  # no "flows": every file in flows/
    assert result.exit_code == 0 and "2 created" in result.stderr, result.output
    # A flow over the server's size limit stops the import before anything changes.
    (out / "flows" / "c.json").write_text(json.dumps(_flow("C", description="x" * 5000)))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PLAIT_MAX_FLOW_BYTES", "2048")
        big = cli("import", out)
    assert big.exit_code == 2 and "flow 'C'" in big.stderr and "limit" in big.stderr
    with platform_at(data_dir) as platform, platform.db.session() as session:
        assert sorted(session.scalars(select(Flow.name))) == ["A", "B"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: None, "holds no project.json"),
        (lambda d: (d / "project.json").write_text("{nope"), "is not valid JSON"),
        (lambda d: (d / "project.json").write_text('{"format": 9, "slug": "p"}'), "format 9"),
        (lambda d: (d / "project.json").write_text('{"name": "P"}'), "'slug' must be"),
        (
            lambda d: (d / "project.json").write_text('{"slug": "p", "stages": ["Bad-Stage"]}'),
            "not a valid stage name",
        ),
        (
            lambda d: (d / "project.json").write_text('{"slug": "p", "flows": ["../x.json"]}'),
            "is outside",
        ),
        (
            lambda d: (d / "project.json").write_text('{"slug": "p", "flows": ["flows/x.json"]}'),
            "flows/x.json is listed in project.json but missing",
        ),
        (
            lambda d: (
                (d / "project.json").write_text('{"slug": "p", "flows": ["x.json"]}'),
                (d / "x.json").write_text('{"name": "X", "nodes": "no"}'),
            ),
            "x.json: not a valid flow document",
        ),
        (
            lambda d: (d / "project.json").write_text('{"slug": "Not OK"}'),
            "not a valid project slug",
        ),
    ],
)
def test_bad_exports_are_one_line_and_change_nothing(
    cli: Any, tmp_path: Path, setup: Any, message: str
) -> None:
    directory = tmp_path / "export"
    directory.mkdir()
    setup(directory)
    result = cli("import", directory)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_import_of_a_missing_directory(cli: Any, tmp_path: Path) -> None:
    result = cli("import", tmp_path / "nope")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"error: no such directory: {tmp_path / 'nope'}"
