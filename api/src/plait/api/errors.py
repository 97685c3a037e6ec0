"""API errors: every error is JSON ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .db.session import UNREACHABLE, unreachable_reason

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    503: "unavailable",
}
# Clients (and load balancers) try again after this many seconds when the database is down.
RETRY_AFTER_S = 2


class ApiError(Exception):
    """A domain error mapped to HTTP by the routes' handler."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found(what: str) -> ApiError:
    # Another workspace's ids are "not found" too: existence is not revealed (404, not 403).
    return ApiError(404, "not_found", f"{what} not found")


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return JSONResponse(
            error_body(code, message), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg", "")}
            for e in exc.errors()[:20]
        ]
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        message = f"{'.'.join(first['loc'][1:]) or 'body'}: {first['msg']}"
        return JSONResponse(error_body("invalid", message, details), status_code=422)

    @app.exception_handler(UNREACHABLE[0])
    @app.exception_handler(UNREACHABLE[1])
    async def _database_unreachable(request: Request, exc: Exception) -> JSONResponse:
        # Nothing was committed for this request: the client can send it again.
        log.warning(
            "%s %s: the database cannot be reached (%s); answered 503",
            request.method,
            request.url.path,
            unreachable_reason(exc),
        )
        return JSONResponse(
            error_body(
                "database_unavailable",
                "the database cannot be reached right now; nothing was changed, try again"
                " in a moment",
            ),
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(
            error_body("internal", "internal error; the server log has the details"),
            status_code=500,
        )
