"""trigger.manual: the run's input comes out of ``payload`` unchanged."""

import pytest

from plait.nodes.triggers import ManualTrigger


@pytest.mark.parametrize("payload", [None, {"name": "Ada"}, [1, 2, 3], "text", 0])
async def test_outputs_the_run_input(run_node, payload):
    out = await run_node(ManualTrigger, trigger_payload=payload)

    assert out.payload == payload
    assert out.model_fields_set == {"payload"}


def test_is_an_idempotent_trigger_without_inputs():
    assert ManualTrigger.spec.trigger
    assert ManualTrigger.spec.idempotent
    assert ManualTrigger.input_ports() == []
