"""HTTP nodes: call out to a service, and answer the request that started the run.

``http.request`` guards outbound traffic with the policy of ``outbound`` (ARCHITECTURE.md
§7). It follows redirects itself so that every hop is checked the same way.

httpx is imported inside ``run`` so that loading the catalogue does not load it.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, JsonValue

from plait.node_runner.errors import (
    KIND_CONNECTION,
    KIND_HTTP_STATUS,
    KIND_INVALID_PARAMS,
    KIND_TIMEOUT,
    NodeError,
)
from plait.node_runner.sdk import Node, NodeSpec, RunContext

from .outbound import check_host

if TYPE_CHECKING:
    import httpx

HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

# Error kinds of http.request besides the engine's own.
KIND_REDIRECT = "redirect"
KIND_RESPONSE_TOO_LARGE = "response_too_large"
KIND_INVALID_RESPONSE = "invalid_response"

MAX_REDIRECTS = 10
MAX_RESPONSE_BYTES = 50 * 1024 * 1024
# How much of a failed response's body an ``http_status`` error carries.
ERROR_BODY_BYTES = 2048

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
# A header name is an RFC 9110 token.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _check_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise ValueError(f"{name!r} is not a valid header name")
        # A line break in a value would let it smuggle in more headers.
        if any(c in value for c in "\r\n\0"):
            raise ValueError(f"the value of header {name!r} contains a line break or NUL")
    return headers


HeaderMap = Annotated[dict[str, str], AfterValidator(_check_headers)]


class HttpRequest(Node):
    """Send an HTTP request and output the response.

    An object or array ``body`` is sent as JSON, a string as text, and nothing is
    sent when it is ``null``. The response ``body`` is parsed JSON when the response
    says its content is JSON, else text (``null`` when empty); header names come out
    lower-cased. A status outside 2xx fails the node with kind ``http_status`` unless
    it is listed in ``accept_status``; transport failures fail it with kind
    ``connection`` and running out of time with kind ``timeout`` (the kinds a retry
    policy retries by default, with 5xx and 429 statuses). Redirects are followed up
    to 10 hops when ``follow_redirects`` is on.

    Requests to hosts that resolve to private, loopback or link-local addresses are
    refused (kind ``forbidden_address``), on every redirect hop, unless the
    installation allows private networks (``PLAIT_ALLOW_PRIVATE_NETWORKS=1``).
    """

    spec = NodeSpec(type="http.request", version=1, title="HTTP request", category="http")

    class Params(BaseModel):
        method: HttpMethod = Field(default="GET", description="HTTP method.")
        url: str = Field(description="http:// or https:// URL.", examples=["https://example.com/"])
        headers: HeaderMap = Field(default_factory=dict, description="Request headers.")
        query: dict[str, str | int | float | bool] = Field(
            default_factory=dict, description="Query parameters, added to those in the URL."
        )
        body: JsonValue = Field(
            default=None, description="Object or array: sent as JSON; string: sent as text."
        )
        timeout_s: float = Field(
            default=30, gt=0, le=3600, description="Time allowed for the whole exchange."
        )
        accept_status: list[Annotated[int, Field(ge=100, le=599)]] = Field(
            default_factory=list, description="Statuses outside 2xx that are not errors."
        )
        follow_redirects: bool = Field(default=True, description="Follow up to 10 redirects.")

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = Field(default=None, description="Data for the params' expressions.")

    class Outputs(BaseModel):
        status: int = Field(description="The response status.")
        headers: dict[str, str] = Field(
            description="Response headers, names lower-cased; repeated ones joined by ', '."
        )
        body: JsonValue = Field(description="Parsed JSON, or text.")

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        import httpx

        params = self.params
        url = _parse_url(params.url)
        try:
            # One deadline for every hop and the body, so neither a redirect chain nor
            # a slowly trickling body can outlast timeout_s.
            async with (
                asyncio.timeout(params.timeout_s),
                httpx.AsyncClient(timeout=params.timeout_s, follow_redirects=False) as client,
            ):
                response = await self._exchange(client, url, ctx)
                try:
                    return await _read_outputs(response, params.accept_status, params.method)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise NodeError(
                KIND_TIMEOUT, f"{params.method} {_redact(url)} took over {params.timeout_s:g} s"
            ) from None
        except httpx.TimeoutException as exc:
            raise NodeError(
                KIND_TIMEOUT, f"{params.method} {_redact(url)} timed out ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            reason = str(exc) or type(exc).__name__
            raise NodeError(
                KIND_CONNECTION, f"{params.method} {_redact(url)} failed: {reason}"
            ) from None

    async def _exchange(
        self, client: httpx.AsyncClient, url: httpx.URL, ctx: RunContext
    ) -> httpx.Response:
        """Send the request, following redirects hop by hop; the final response, unread."""
        params = self.params
        method: str = params.method
        headers = dict(params.headers)
        body = params.body
        url = url.copy_merge_params(params.query)
        for hop in range(MAX_REDIRECTS + 1):
            if not ctx.allow_private_networks:
                await check_host(url)
            request = client.build_request(method, url, **_content_kwargs(headers, body))
            response = await client.send(request, stream=True)
            location = response.headers.get("location")
            if not (
                params.follow_redirects and response.status_code in _REDIRECT_STATUSES and location
            ):
                return response
            await response.aclose()
            if hop == MAX_REDIRECTS:
                break
            next_url = _parse_redirect(url, location)
            if _redirect_drops_body(response.status_code, method):
                method, body = "GET", None
            if (next_url.scheme, next_url.host, next_url.port) != (url.scheme, url.host, url.port):
                # Credentials were meant for the first origin, not wherever it points to.
                headers = {
                    k: v for k, v in headers.items() if k.lower() not in ("authorization", "cookie")
                }
            url = next_url
        raise NodeError(
            KIND_REDIRECT, f"{params.method} {_redact(url)}: more than {MAX_REDIRECTS} redirects"
        )


def _parse_url(text: str) -> httpx.URL:
    """The param ``url`` as an ``httpx.URL``; ``invalid_params`` unless it is http(s)."""
    import httpx

    try:
        url = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise NodeError(KIND_INVALID_PARAMS, f"url {text!r} is not a valid URL: {exc}") from None
    if url.scheme not in ("http", "https"):
        raise NodeError(
            KIND_INVALID_PARAMS, f"url must start with http:// or https://, got {_redact(url)!r}"
        )
    if not url.host:
        raise NodeError(KIND_INVALID_PARAMS, f"url {_redact(url)!r} has no host")
    return url


def _parse_redirect(url: httpx.URL, location: str) -> httpx.URL:
    """Where a redirect points, resolved against the URL that answered it."""
    import httpx

    try:
        target = url.join(location)
    except httpx.InvalidURL:
        raise NodeError(KIND_REDIRECT, f"{_redact(url)} redirected to a malformed URL") from None
    if target.scheme not in ("http", "https") or not target.host:
        raise NodeError(
            KIND_REDIRECT, f"{_redact(url)} redirected to {_redact(target)!r}, not an http(s) URL"
        )
    return target


def _redirect_drops_body(status: int, method: str) -> bool:
    """Whether following this redirect turns the request into a bodiless GET.

    As browsers and httpx do: 303 always (except for HEAD), 301 and 302 for POST.
    """
    if status == 303:
        return method != "HEAD"
    return status in (301, 302) and method == "POST"


def _content_kwargs(headers: dict[str, str], body: JsonValue) -> dict[str, Any]:
    """The httpx arguments that send ``headers`` and ``body`` (JSON, text, or nothing).

    A header the user set wins over the content type chosen here.
    """
    if body is None:
        return {"headers": headers}
    if isinstance(body, str):
        if not any(name.lower() == "content-type" for name in headers):
            headers = {**headers, "Content-Type": "text/plain; charset=utf-8"}
        return {"headers": headers, "content": body.encode()}
    return {"headers": headers, "json": body}


def _redact(url: httpx.URL) -> str:
    """A URL fit for messages: no credentials, no query (where API keys often travel)."""
    return str(url.copy_with(userinfo=b"", query=None, fragment=None))


# -- reading the response ------------------------------------------------------------


async def _read_excerpt(response: httpx.Response, size: int) -> bytes:
    """The first ``size`` bytes of the body, without reading the rest."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        total += len(chunk)
        if total >= size:
            break
    return b"".join(chunks)[:size]


async def _read_body(response: httpx.Response) -> bytes:
    """The whole body, refused past ``MAX_RESPONSE_BYTES`` (counted after decompression)."""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
        raise _too_large(response)
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > MAX_RESPONSE_BYTES:
            raise _too_large(response)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(response: httpx.Response) -> NodeError:
    return NodeError(
        KIND_RESPONSE_TOO_LARGE,
        f"{_redact(response.url)} sent a body over {MAX_RESPONSE_BYTES // (1024 * 1024)} MiB",
        status=response.status_code,
    )


def _decode_text(response: httpx.Response, content: bytes) -> str:
    try:
        return content.decode(response.charset_encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return content.decode("utf-8", errors="replace")


def _is_json(content_type: str) -> bool:
    """``application/json`` and the ``+json`` family (``application/problem+json``)."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


async def _read_outputs(
    response: httpx.Response, accept_status: list[int], method: str
) -> HttpRequest.Outputs:
    status = response.status_code
    if not (200 <= status < 300 or status in accept_status):
        excerpt = await _read_excerpt(response, ERROR_BODY_BYTES)
        raise NodeError(
            KIND_HTTP_STATUS,
            f"{method} {_redact(response.url)} answered {status} {response.reason_phrase}".rstrip(),
            status=status,
            details={"body": _decode_text(response, excerpt)},
        )
    content = await _read_body(response)
    body: JsonValue = None
    if content:
        if _is_json(response.headers.get("content-type", "")):
            try:
                body = json.loads(content)
            except ValueError as exc:
                raise NodeError(
                    KIND_INVALID_RESPONSE,
                    f"{_redact(response.url)} says its body is JSON, but it is not: {exc}",
                    status=status,
                ) from None
        else:
            body = _decode_text(response, content)
    return HttpRequest.Outputs(status=status, headers=dict(response.headers.items()), body=body)


class HttpRespond(Node):
    """Answer the HTTP request that started the run.

    In a run started by a ``sync`` webhook, the first ``http.respond`` to run is the
    answer; the run may go on after it. An object or array ``body`` is sent as JSON,
    a string as text. Use expressions to answer with data, e.g.
    ``{"greeting": "Hello {{ inputs.input.name }}"}``.
    """

    spec = NodeSpec(
        type="http.respond", version=1, title="HTTP response", category="http", idempotent=True
    )

    class Params(BaseModel):
        status: int = Field(default=200, ge=100, le=599, description="The response status.")
        headers: HeaderMap = Field(default_factory=dict, description="Response headers.")
        body: JsonValue = Field(
            default=None, description="Object or array: sent as JSON; string: sent as text."
        )

    params: Params

    class Inputs(BaseModel):
        input: JsonValue = Field(default=None, description="Data for the params' expressions.")

    class Outputs(BaseModel):
        response: dict[str, JsonValue] = Field(description="The answer: {status, headers, body}.")

    async def run(self, inputs: Inputs, ctx: RunContext) -> Outputs:
        params = self.params
        response: dict[str, JsonValue] = {
            "status": params.status,
            "headers": dict(params.headers),
            "body": params.body,
        }
        return self.Outputs(response=response)


NODES: list[type[Node]] = [HttpRequest, HttpRespond]
