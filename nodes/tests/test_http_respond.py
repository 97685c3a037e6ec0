"""http.respond: the answer to the request that started the run, as data."""

import pytest
from pydantic import ValidationError

from plait.nodes.http import HttpRespond


async def test_outputs_the_response(run_node):
    out = await run_node(
        HttpRespond,
        {"status": 201, "headers": {"X-Id": "7"}, "body": {"ok": True}},
        {"input": {"ignored": 1}},
    )

    assert out.response == {"status": 201, "headers": {"X-Id": "7"}, "body": {"ok": True}}


async def test_defaults_to_an_empty_200(run_node):
    out = await run_node(HttpRespond)

    assert out.response == {"status": 200, "headers": {}, "body": None}


@pytest.mark.parametrize(
    "params",
    [
        {"status": 99},
        {"status": 600},
        {"headers": {"Bad Name": "x"}},
        {"headers": {"X-Ok": "line\r\nSet-Cookie: evil=1"}},
    ],
)
def test_refuses_bad_params(params):
    with pytest.raises(ValidationError):
        HttpRespond.Params.model_validate(params)
