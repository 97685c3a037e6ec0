"""The floor of the webhook benchmark: a bare ASGI app with no engine.

It answers the two endpoints with the same JSON as the flows, on the same server stack
as ``plait router`` (uvicorn, same options), so the gap between the two is what the
router, the run and its recorded history cost.

    python bench/webhook/floor.py --port 8099
"""

from __future__ import annotations

import argparse
from typing import Any

import uvicorn

_HEADERS = [(b"content-type", b"application/json")]
_BODIES = {"/hook": b'{"ok":true,"n":"1"}', "/chain": b'{"count":20}'}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer ``GET /hook`` and ``GET /chain``; 404 otherwise."""
    if scope["type"] != "http":
        return  # lifespan: nothing to start
    body = _BODIES.get(scope["path"])
    status = 200 if body is not None else 404
    await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": body or b'{"error":"not found"}'})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app, host=args.host, port=args.port, log_level="warning", access_log=False, lifespan="off"
    )


if __name__ == "__main__":
    main()
