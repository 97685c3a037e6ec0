"""The built-in nodes as the platform finds them: through the entry point."""

import json
from pathlib import Path

import pytest

from plait.node_runner.registry import NodeRegistry
from plait.nodes import NODES

PORTS = {
    "trigger.manual": ([], ["payload"]),
    "trigger.webhook": ([], ["body", "query", "headers", "path_params", "method", "path"]),
    "trigger.schedule": ([], ["fired_at", "fired_at_local"]),
    "data.set": (["input"], ["output"]),
    "data.template": (["input"], ["text"]),
    "control.if": (["input"], ["true", "false"]),
    "control.switch": (["input"], ["default"]),
    "control.merge": (["inputs"], ["output"]),
    "http.request": (["input"], ["status", "headers", "body"]),
    "http.respond": (["input"], ["response"]),
    "util.delay": (["input"], ["output"]),
}


@pytest.fixture(scope="module")
def registry():
    return NodeRegistry.discover()


def test_entry_point_registers_every_node(registry):
    for cls in NODES:
        assert registry.get(cls.spec.type, cls.spec.version) is cls
    assert {cls.spec.type for cls in NODES} >= set(PORTS)
    assert len({(cls.spec.type, cls.spec.version) for cls in NODES}) == len(NODES)


@pytest.mark.parametrize("cls", NODES, ids=lambda cls: cls.spec.type)
def test_every_node_has_its_own_test_module(cls):
    """One test module per node (STYLE.md): ``a.b`` is tested in ``test_a_b.py``."""
    name = "test_" + cls.spec.type.replace(".", "_") + ".py"
    assert (Path(__file__).parent / name).is_file(), f"{cls.spec.type} has no {name}"
    assert cls.spec.description, f"{cls.spec.type} has no docstring"


@pytest.mark.parametrize("type_", sorted(PORTS))
def test_ports(registry, type_):
    cls = registry.get(type_, 1)
    inputs, outputs = PORTS[type_]

    assert [p.name for p in cls.input_ports()] == inputs
    assert [p.name for p in cls.output_ports()] == outputs


def test_catalogue_is_json_with_descriptions(registry):
    catalogue = json.loads(json.dumps(registry.catalogue()))
    entries = {e["type"]: e for e in catalogue["nodes"]}

    for type_ in PORTS:
        entry = entries[type_]
        assert entry["description"], f"{type_} has no description"
        assert entry["trigger"] == type_.startswith("trigger.")
    assert entries["control.merge"]["join_param"] == "mode"
    assert entries["control.merge"]["inputs"][0]["multi"] is True


def test_switch_ports_follow_its_cases(registry):
    switch = registry.get("control.switch", 1)
    entry = next(e for e in registry.catalogue()["nodes"] if e["type"] == "control.switch")

    ports = switch.output_ports(
        {"cases": [{"name": "vip", "condition": True}, {"name": "new", "condition": False}]}
    )

    assert [p.name for p in ports] == ["vip", "new", "default"]
    assert entry["dynamic_outputs"] == {
        "from_param": "cases",
        "name_field": "name",
        "extra": ["default"],
        "type": "any",
    }
