"""The deployment shape, validated offline (ARCHITECTURE.md §8; there is no container engine
in CI): docker-compose.yml against the compose-spec schema and against itself, its commands
and the image's against the CLI, infrastructure/Dockerfile through Docker's own parser,
.env.example against the settings; and, for real, the two commands the stack relies on:
``plait migrate`` and ``plait api``.

The schema check and the Dockerfile parser run through ``uvx`` with pinned versions (their
pins would clash with our lock); uvx fetches them from PyPI once and reuses its cache.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from alembic.script import ScriptDirectory
from clikit import PLAIT, REPO, subprocess_env
from serverkit import free_port
from servicekit import postgres_database, redis_prefix, unavailable

from plait.api.db.migrate import alembic_config
from plait.api.settings import Settings, load_settings

pytestmark = pytest.mark.slow

COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "infrastructure" / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"
IMAGE_DOCKERFILE = "infrastructure/Dockerfile"

# Pinned: a new release may change what it accepts; bump on purpose.
CHECK_JSONSCHEMA = "check-jsonschema==0.39.0"  # ships the compose-spec schema (vendored)
DOCKERFILE_PARSER = "dockerfile==3.4.0"  # Python bindings of BuildKit's Dockerfile parser

# The processes of ARCHITECTURE.md §2 that the stack runs, each from the one image.
SCALED_COMMANDS = {"api", "router", "worker", "scheduler"}


def _load_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _plait_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run Plait's image (built from infrastructure/Dockerfile)."""
    return {
        name: service
        for name, service in compose["services"].items()
        if (service.get("build") or {}).get("dockerfile") == IMAGE_DOCKERFILE
    }


def _env_example() -> dict[str, str]:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"not KEY=value: {line!r}"
            assert key not in pairs, f"{key} is set twice in .env.example"
            pairs[key] = value
    return pairs


def _python_has_uv() -> bool:
    if not shutil.which("python3"):
        return False
    check = subprocess.run(["python3", "-m", "uv", "--version"], capture_output=True, timeout=30)
    return check.returncode == 0


def _uvx(spec: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``uvx --from spec *args`` on this interpreter; unavailable when uv is missing or
    cannot install ``spec``."""
    if uvx := shutil.which("uvx"):
        runner = [uvx]
    elif uv := shutil.which("uv"):
        runner = [uv, "tool", "run"]
    elif _python_has_uv():  # where `make setup` put it, as the Makefile finds it
        runner = ["python3", "-m", "uv", "tool", "run"]
    else:
        unavailable("uvx", "no uvx, uv or `python3 -m uv`; `make setup` installs uv")
    command = [*runner, "--python", sys.executable, "--from", spec, *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    except subprocess.TimeoutExpired:
        unavailable(f"{spec} through uvx", f"no answer within {timeout} s")
        raise AssertionError("unreachable") from None


@pytest.fixture(scope="module")
def check_jsonschema() -> str:
    """The pinned check-jsonschema, installed (or found in uv's cache)."""
    result = _uvx(CHECK_JSONSCHEMA, "check-jsonschema", "--version")
    if result.returncode != 0:
        unavailable(f"{CHECK_JSONSCHEMA} through uvx", result.stderr.strip()[-300:])
    return result.stdout


def _compose_spec(check_jsonschema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return _uvx(
        CHECK_JSONSCHEMA,
        "check-jsonschema",
        "--builtin-schema",
        "vendor.compose-spec",
        str(path),
    )


# -- (a) the compose file -----------------------------------------------------------------


def test_the_compose_file_is_valid_compose_spec(check_jsonschema: str) -> None:
    result = _compose_spec(check_jsonschema, COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_the_schema_check_refuses_a_broken_compose_file(
    check_jsonschema: str, tmp_path: Path
) -> None:
    """The check has teeth: the mistake it is there for (``replicas`` outside ``deploy``)."""
    compose = _load_compose()
    compose["services"]["worker"]["replicas"] = compose["services"]["worker"]["deploy"].pop(
        "replicas"
    )
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(yaml.safe_dump(compose))
    result = _compose_spec(check_jsonschema, broken)
    assert result.returncode == 1
    assert "'replicas' was unexpected" in result.stdout


def test_the_stack_has_the_services_of_the_scaled_shape() -> None:
    compose = _load_compose()
    services = compose["services"]
    assert {"postgres", "redis", "minio", "minio-bucket", "qdrant"} <= services.keys()
    assert services["postgres"]["image"].startswith("postgres:16")
    plait = _plait_services(compose)
    assert {s["command"][0] for s in plait.values()} == SCALED_COMMANDS
    assert services["worker"]["deploy"]["replicas"] == 2
    # One image: the same name and build everywhere, the build context the repository root.
    assert len({(s["image"], json.dumps(s["build"], sort_keys=True)) for s in plait.values()}) == 1
    assert all(s["build"]["context"] == "." for s in plait.values())
    assert "8000:8000" in services["api"]["ports"]
    assert "8080:8080" in services["router"]["ports"]


def test_the_compose_file_holds_together() -> None:
    """What the schema cannot see: names that must point at something."""
    compose = _load_compose()
    services = compose["services"]
    declared_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, f"{name} depends on an unknown service {target}"
            condition = rule["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no health check"
            elif condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not one-shot"
            else:
                assert condition == "service_started"
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared_volumes, f"{name} uses an undeclared volume {source}"
    # Every stateful server keeps its data in a named volume and says when it is ready.
    for name in ("postgres", "redis", "minio", "qdrant"):
        assert services[name]["volumes"], name
        assert services[name]["healthcheck"]["test"], name
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert "/api/health" in str(services["api"]["healthcheck"]["test"])
    # The API migrates on start and everything else of Plait's waits for it to be healthy,
    # so no two processes race to migrate a new database.
    api = services["api"]
    assert "--no-migrate" not in api["command"]
    for dependency in ("postgres", "redis", "qdrant"):
        assert api["depends_on"][dependency]["condition"] == "service_healthy"
    assert api["depends_on"]["minio-bucket"]["condition"] == "service_completed_successfully"
    for name, service in _plait_services(compose).items():
        if name != "api":
            assert service["depends_on"]["api"]["condition"] == "service_healthy", name


# -- (b) the commands exist ---------------------------------------------------------------


def _image_commands() -> list[list[str]]:
    """Every Plait command line the stack and the image run."""
    commands = [list(s["command"]) for s in _plait_services(_load_compose()).values()]
    commands.append(_dockerfile_default_command())
    return commands


def _dockerfile_default_command() -> list[str]:
    # Read without the parser so this runs at collection time: the last CMD, exec form.
    cmds = [line for line in DOCKERFILE.read_text().splitlines() if line.startswith("CMD ")]
    return list(json.loads(cmds[-1].removeprefix("CMD ")))


@pytest.mark.parametrize("command", _image_commands(), ids=" ".join)
def test_every_command_of_the_stack_is_a_plait_command(command: list[str], tmp_path: Path) -> None:
    # The whole command line with --help: unknown commands and options are refused too.
    result = subprocess.run(
        [*PLAIT, *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=subprocess_env(tmp_path / "data"),
        cwd=REPO,
    )
    assert result.returncode == 0, f"plait {' '.join(command)} --help:\n{result.stderr}"
    assert "Usage: plait" in result.stdout


# -- (c) the image ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dockerfile() -> list[dict[str, Any]]:
    """The Dockerfile's instructions as BuildKit's parser reads them."""
    script = (
        "import dockerfile, json, sys\n"
        "print(json.dumps([{'cmd': c.cmd, 'flags': c.flags, 'value': c.value}"
        " for c in dockerfile.parse_file(sys.argv[1])]))\n"
    )
    result = _uvx(DOCKERFILE_PARSER, "python", "-c", script, str(DOCKERFILE))
    if result.returncode != 0 and "Traceback" not in result.stderr:  # uv could not install it
        unavailable(f"{DOCKERFILE_PARSER} through uvx", result.stderr.strip()[-300:])
    assert result.returncode == 0, result.stderr
    return list(json.loads(result.stdout))


def _allowed_by_dockerignore(path: str) -> bool:
    """Whether the allow-list .dockerignore sends ``path`` to the builder."""
    lines = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*", ".dockerignore must start by leaving everything out"
    allowed = [line[1:].rstrip("/") for line in lines if line.startswith("!")]
    return any(path == a or path.startswith(a + "/") for a in allowed)


def test_the_dockerfile_copies_what_the_repository_has(
    dockerfile: list[dict[str, Any]],
) -> None:
    stages: list[str] = []
    for instruction in dockerfile:
        cmd, flags, value = instruction["cmd"], instruction["flags"], instruction["value"]
        if cmd == "FROM":
            assert len(value) == 3 and value[1].upper() == "AS", value
            stages.append(value[2])
        elif cmd == "COPY":
            sources = value[:-1]
            from_stage = [f.removeprefix("--from=") for f in flags if f.startswith("--from=")]
            if from_stage:
                assert from_stage[0] in stages, f"COPY --from={from_stage[0]}: no such stage"
                continue
            for source in sources:
                assert (REPO / source).exists(), f"COPY {source}: not in the repository"
                assert _allowed_by_dockerignore(source), f"COPY {source}: left out by .dockerignore"
    assert stages == ["editor", "python", "runtime"]
    # Nothing of the machine that builds it goes in.
    for private in (".env", ".venv", ".plait", "editor/node_modules", "editor/dist", ".git"):
        assert not _allowed_by_dockerignore(private), private


def test_the_image_runs_plait_as_a_user_with_the_editor_built(
    dockerfile: list[dict[str, Any]],
) -> None:
    runtime = dockerfile[max(i for i, c in enumerate(dockerfile) if c["cmd"] == "FROM") :]
    by_cmd: dict[str, list[list[str]]] = {}
    for instruction in runtime:
        by_cmd.setdefault(instruction["cmd"], []).append(instruction["value"])
    env = dict(
        pair for value in by_cmd["ENV"] for pair in zip(value[::2], value[1::2], strict=True)
    )
    editor_copy = next(v for v in by_cmd["COPY"] if v[0] == "/src/editor/dist")
    assert env["PLAIT_EDITOR_DIST"] == editor_copy[-1]
    assert env["PLAIT_HOST"] == "0.0.0.0"
    assert by_cmd["USER"][-1][0] not in ("root", "0")
    assert by_cmd["ENTRYPOINT"][-1] == ["plait"]
    assert by_cmd["CMD"][-1] == _dockerfile_default_command()
    runs = [v[0] for i in dockerfile if i["cmd"] == "RUN" for v in [i["value"]]]
    assert any("npm ci" in r for r in runs) and any("npm run build" in r for r in runs)
    assert "uv sync --frozen --no-dev --all-packages" in runs


# -- (d) the settings ---------------------------------------------------------------------


def test_the_env_example_names_only_settings_that_exist() -> None:
    pairs = _env_example()
    fields = {f"PLAIT_{name.upper()}" for name in Settings.model_fields}
    unknown = {key for key in pairs if key.startswith("PLAIT_")} - fields
    assert not unknown, f"not Plait settings: {sorted(unknown)}"


def test_the_env_example_is_a_working_scaled_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pairs = _env_example()
    for key in [k for k in os.environ if k.startswith("PLAIT_")]:
        monkeypatch.delenv(key)
    for key, value in pairs.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()  # every value passes the settings' own checks
    assert settings.queue == "bullmq"
    assert settings.host == "0.0.0.0"
    assert settings.database_url and settings.database_url.startswith("postgresql://")
    assert settings.blob_store and settings.blob_store.startswith("s3://")
    assert settings.redis_url and settings.qdrant_url and settings.public_url
    assert settings.secret_key and settings.base_domain
    # The pairs that must agree: the database's account, and MinIO's as boto3 uses it.
    user, password, database = (pairs[f"POSTGRES_{k}"] for k in ("USER", "PASSWORD", "DB"))
    assert settings.database_url == f"postgresql://{user}:{password}@postgres:5432/{database}"
    assert pairs["AWS_ACCESS_KEY_ID"] == pairs["MINIO_ROOT_USER"]
    assert pairs["AWS_SECRET_ACCESS_KEY"] == pairs["MINIO_ROOT_PASSWORD"]
    assert pairs["AWS_ENDPOINT_URL"] == "http://minio:9000"
    assert len(pairs["MINIO_ROOT_PASSWORD"]) >= 8  # MinIO refuses to start otherwise


def test_every_service_reads_the_env_file() -> None:
    compose = _load_compose()
    pairs = _env_example()
    for name, service in compose["services"].items():
        text = json.dumps(service)
        # Variables the container's shell expands (${NAME} in the file; lower-case names are
        # the script's own) come from .env.
        used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", text))
        needs_env = (
            name in _plait_services(compose)
            or used
            or service["image"].startswith(("postgres:", "quay.io/minio/"))
        )
        if needs_env:
            assert service.get("env_file") == ".env", f"{name} does not read .env"
        assert used <= pairs.keys(), f"{name} uses {sorted(used - pairs.keys())}, not in .env"


# -- (e) plait migrate and plait api, for real --------------------------------------------


def _head() -> str:
    return str(ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head())


def _plait(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PLAIT, *args], capture_output=True, text=True, timeout=120, env=env, cwd=REPO
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The environment of a process on a new, empty database."""
    env = subprocess_env(tmp_path / "data")
    if request.param == "sqlite":
        yield env
    else:
        with postgres_database() as url:
            env["PLAIT_DATABASE_URL"] = url
            yield env


def test_migrate_applies_every_migration_once(fresh_database: dict[str, str]) -> None:
    first = _plait(fresh_database, "migrate")
    assert first.returncode == 0, first.stderr
    assert re.search(rf"✓ migrated .+ from an empty database to revision {_head()}$", first.stdout)
    again = _plait(fresh_database, "migrate")
    assert again.returncode == 0, again.stderr
    assert again.stdout.rstrip().endswith(f"is up to date (revision {_head()})")


def test_migrate_says_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    env = subprocess_env(tmp_path / "data")
    env["PLAIT_DATABASE_URL"] = f"postgresql://plait:secret@127.0.0.1:{free_port()}/plait"
    result = _plait(env, "migrate")
    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot open the database")
    assert "secret" not in result.stderr and "Traceback" not in result.stderr


def test_api_without_migrating_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = _plait(subprocess_env(tmp_path / "data"), "api", "--no-migrate")
    assert result.returncode == 1
    assert "not migrated" in result.stderr and "plait migrate" in result.stderr


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(params=["local", "bullmq"])
def queue_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A process's environment on the embedded queue, then on BullMQ over the real Redis."""
    env = subprocess_env(tmp_path / "data")
    if request.param == "local":
        yield env
    else:
        with redis_prefix() as (url, prefix):
            env |= {"PLAIT_QUEUE": "bullmq", "PLAIT_REDIS_URL": url, "PLAIT_REDIS_PREFIX": prefix}
            yield env


def test_api_serves_the_control_plane_alone_and_stops_on_sigterm(
    queue_env: dict[str, str], tmp_path: Path
) -> None:
    port, router_port = free_port(), free_port()
    env = queue_env
    env["PLAIT_ROUTER_PORT"] = str(router_port)
    env["PLAIT_EDITOR_DIST"] = str(tmp_path / "no-editor-build")
    migrated = _plait(env, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    out, err = tmp_path / "api.out", tmp_path / "api.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        proc = subprocess.Popen(
            [*PLAIT, "api", "--port", str(port), "--no-migrate", "--no-sample"],
            stdout=stdout,
            stderr=stderr,
            text=True,
            env=env,
            cwd=REPO,
        )
    try:
        deadline = time.monotonic() + 60
        while "to stop." not in out.read_text():
            assert proc.poll() is None, f"plait api exited {proc.returncode}:\n{err.read_text()}"
            assert time.monotonic() < deadline, f"plait api did not start:\n{err.read_text()}"
            time.sleep(0.1)
        banner = out.read_text()
        assert f"Plait API 0.1.0 is running at http://localhost:{port}" in banner
        assert "/api/auth/link?token=" in banner
        assert "from `plait router`" in banner
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=10)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert "editor is not built" in httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text
        assert not _listening(router_port), "plait api opened the router's port"
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, err.read_text()
        assert time.monotonic() - started < 15
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
