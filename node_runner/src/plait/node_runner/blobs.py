"""Large values by reference.

A port value whose serialised size passes a threshold is stored once in a
``BlobStore`` and travels as ``{"$blob": "sha256:<hex>", "size": n}``. Nodes never see
the reference: the engine resolves it before a node runs and stores large outputs after.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

DEFAULT_BLOB_THRESHOLD = 1024 * 1024  # bytes of serialised JSON
BLOB_KEY = "$blob"
# User data shaped like a reference (or like an escape) travels wrapped in this key, so a
# payload can never make the engine read a blob it names.
ESCAPE_KEY = "$literal"


class BlobNotFound(KeyError):
    """A blob reference that the store does not hold."""


@runtime_checkable
class BlobStore(Protocol):
    """Content-addressed bytes. Keys are ``sha256:<hex>`` of the content."""

    def put(self, data: bytes) -> str: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


def content_key(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _check_key(key: str) -> str:
    algo, _, digest = key.partition(":")
    if algo != "sha256" or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise BlobNotFound(f"not a blob key: {key!r}")
    return digest


class InMemoryBlobStore:
    """Blobs in a dict; for tests and one-shot runs."""

    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        key = content_key(data)
        self._data.setdefault(key, data)
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._data[key]
        except KeyError:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return key in self._data


class FileBlobStore:
    """Blobs as files under ``root/sha256/<2 hex>/<62 hex>``, written atomically."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        digest = _check_key(key)
        return self.root / "sha256" / digest[:2] / digest[2:]

    def put(self, data: bytes) -> str:
        key = content_key(data)
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(key) from None

    def exists(self, key: str) -> bool:
        return self._path(key).exists()


def is_blob_ref(value: Any) -> bool:
    return type(value) is dict and BLOB_KEY in value and len(value) == 2 and "size" in value


def _needs_escape(value: Any) -> bool:
    return is_blob_ref(value) or (type(value) is dict and len(value) == 1 and ESCAPE_KEY in value)


def _exceeds(value: Any, budget: int) -> int:
    """Remaining budget after a rough serialised size of ``value``; negative = too big.

    Walks containers but stops as soon as the budget is spent, so small values
    (the common case on the hot path) cost a few type checks.
    """
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is str:
            budget -= len(v) + 2
        elif t is dict:
            budget -= 2 + 4 * len(v)
            for k, item in v.items():
                budget -= len(k)
                stack.append(item)
        elif t is list or t is tuple:
            budget -= 2 + len(v)
            stack.extend(v)
        else:
            budget -= 8
        if budget < 0:
            return budget
    return budget


def externalize(value: Any, store: BlobStore, threshold: int) -> Any:
    """The form of a port value the engine keeps: inline, escaped, or a blob reference.

    ``value`` is plain data from a node or a payload: when it merely looks like a
    reference it is escaped; when its serialised size passes ``threshold`` it is stored.
    """
    if _needs_escape(value):
        value = {ESCAPE_KEY: value}
    if _exceeds(value, threshold) >= 0:
        return value
    data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    if len(data) <= threshold:
        return value
    key = store.put(data)
    return {BLOB_KEY: key, "size": len(data)}


def resolve(value: Any, store: BlobStore) -> Any:
    """The plain value of a kept port value (see ``externalize``)."""
    if type(value) is dict:
        if is_blob_ref(value):
            value = json.loads(store.get(value[BLOB_KEY]))
            if type(value) is not dict:
                return value
        if len(value) == 1 and ESCAPE_KEY in value:
            return value[ESCAPE_KEY]
    return value
