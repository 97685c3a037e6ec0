"""control.merge: ``mode`` is the join; ``all`` lists the values, ``any``/``first`` pass one."""

import pytest
from pydantic import ValidationError

from plait.nodes.control import Merge


async def test_all_outputs_the_list_in_edge_order(run_node):
    out = await run_node(Merge, {"mode": "all"}, {"inputs": [{"a": 1}, 2, None]})

    assert out.output == [{"a": 1}, 2, None]


async def test_all_is_the_default_and_may_be_empty(run_node):
    out = await run_node(Merge)

    assert out.model_fields_set == {"output"}
    assert out.output == []


@pytest.mark.parametrize("mode", ["any", "first"])
async def test_any_and_first_output_the_value_that_arrived(run_node, mode):
    out = await run_node(Merge, {"mode": mode}, {"inputs": [{"winner": True}]})

    assert out.output == {"winner": True}


@pytest.mark.parametrize("mode", ["any", "first"])
async def test_any_and_first_with_nothing_leave_output_unset(run_node, mode):
    out = await run_node(Merge, {"mode": mode}, {"inputs": []})

    assert out.model_fields_set == set()


def test_mode_is_the_join_and_inputs_take_many_edges():
    assert Merge.spec.join_param == "mode"
    (port,) = Merge.input_ports()
    assert (port.name, port.multi) == ("inputs", True)
    with pytest.raises(ValidationError):
        Merge.Params.model_validate({"mode": "some"})
