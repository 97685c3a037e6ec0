"""Blob stores of the platform: files on one host, S3 (or any S3-compatible store) at scale.

Both keep the engine's ``BlobStore`` contract for values — ``put(data)`` returns the
``sha256:<hex>`` of the bytes, ``get``/``exists`` take it — and add *named objects*
(``put_named``/``get_named``) for what must be found by a name that is not the hash of
its bytes: a bundle is stored under ``bundles/<bundle id>.zip``, where the bundle id is
the hash of its manifest, not of its zip (``bundles.py`` checks the bytes against the id
on the way back, so a named object is no less trustworthy than a content key).

``PLAIT_BLOB_STORE`` chooses the store (``open_blob_store``): unset or ``file:///path``
for files, ``s3://bucket/prefix`` for S3. The S3 store takes its endpoint, region and
credentials where boto3 looks for them (``AWS_ENDPOINT_URL``, ``AWS_REGION``,
``AWS_ACCESS_KEY_ID``, ``~/.aws/config``, instance roles, …), so MinIO, Ceph, R2 and
moto work as well as AWS. boto3 is imported when the first S3 request is made.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from plait.node_runner.blobs import BlobNotFound, BlobStore, FileBlobStore, content_key

from .settings import SettingsError

if TYPE_CHECKING:
    from .settings import Settings

# Lowercase path segments: what both a file system and an S3 key hold without escaping.
# The first segment may not be ``sha256`` (the content keys' folder) and no segment may
# be ``.``/``..``, so a name never reaches a content blob or outside the store.
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,199}(/[a-z0-9][a-z0-9._-]{0,199}){0,7}")


class BlobIntegrityError(Exception):
    """Stored bytes that do not hash to their content key: the store was tampered with."""


@runtime_checkable
class NamedBlobStore(BlobStore, Protocol):
    """A ``BlobStore`` that also keeps objects under names (see the module docstring)."""

    def put_named(self, name: str, data: bytes) -> None: ...

    def get_named(self, name: str) -> bytes: ...

    def exists_named(self, name: str) -> bool: ...


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name) or name.split("/", 1)[0] == "sha256" or ".." in name:
        raise ValueError(f"not a blob name: {name!r}")
    return name


def _digest(key: str) -> str:
    algo, _, digest = key.partition(":")
    if algo != "sha256" or not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise BlobNotFound(f"not a blob key: {key!r}")
    return digest


class LocalBlobStore(FileBlobStore):
    """``FileBlobStore`` (values under ``root/sha256/…``) with named objects as files
    under ``root/<name>``, written atomically."""

    def _named_path(self, name: str) -> Path:
        return self.root / check_name(name)

    def put_named(self, name: str, data: bytes) -> None:
        path = self._named_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get_named(self, name: str) -> bytes:
        try:
            return self._named_path(name).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(name) from None

    def exists_named(self, name: str) -> bool:
        return self._named_path(name).is_file()


class S3BlobStore:
    """Blobs in an S3 bucket: values under ``<prefix>/sha256/<2 hex>/<62 hex>``, named
    objects under ``<prefix>/<name>``.

    Values read back are checked against their key (the bucket is another system, and
    a value is small enough to hash), so a changed object is refused with
    ``BlobIntegrityError`` rather than handed to a run.
    """

    def __init__(
        self, url: str, *, endpoint_url: str | None = None, client: Any | None = None
    ) -> None:
        if not url.startswith("s3://"):
            raise ValueError(f"an S3 blob store URL is s3://bucket/prefix, not {url!r}")
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"the S3 URL {url!r} names no bucket")
        self.url = url
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use (boto3 clients are thread-safe)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    # Region, credentials and AWS_ENDPOINT_URL(_S3) come from boto3's
                    # usual chain; an explicit endpoint_url wins over the environment.
                    self._client = boto3.session.Session().client(
                        "s3", endpoint_url=self.endpoint_url
                    )
        return self._client

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    def _content_key(self, key: str) -> str:
        digest = _digest(key)
        return self._key(f"sha256/{digest[:2]}/{digest[2:]}")

    def _read(self, object_key: str, what: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
        except ClientError as exc:
            if _missing(exc):
                raise BlobNotFound(what) from None
            raise
        data: bytes = response["Body"].read()
        return data

    def _exists(self, object_key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=object_key)
        except ClientError as exc:
            if _missing(exc):
                return False
            raise
        return True

    def put(self, data: bytes) -> str:
        key = content_key(data)
        object_key = self._content_key(key)
        if not self._exists(object_key):  # content-addressed: never upload twice
            self.client.put_object(Bucket=self.bucket, Key=object_key, Body=data)
        return key

    def get(self, key: str) -> bytes:
        data = self._read(self._content_key(key), key)
        if hashlib.sha256(data).hexdigest() != _digest(key):
            raise BlobIntegrityError(f"the object of {key} in {self.url} does not hash to its key")
        return data

    def exists(self, key: str) -> bool:
        return self._exists(self._content_key(key))

    def put_named(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(check_name(name)), Body=data)

    def get_named(self, name: str) -> bytes:
        return self._read(self._key(check_name(name)), name)

    def exists_named(self, name: str) -> bool:
        return self._exists(self._key(check_name(name)))


def _missing(exc: Any) -> bool:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def open_blob_store(settings: Settings) -> NamedBlobStore:
    """The store ``PLAIT_BLOB_STORE`` names: files (unset, ``file://``) or S3 (``s3://``).

    Raises:
        SettingsError: the setting has another scheme, or names no bucket.
    """
    url = settings.blob_store
    if url is None or url.startswith("file://"):
        return LocalBlobStore(settings.blobs_dir)
    if url.startswith("s3://"):
        try:
            return S3BlobStore(url)
        except ValueError as exc:
            raise SettingsError(f"bad setting PLAIT_BLOB_STORE: {exc}") from None
    raise SettingsError(
        f"bad setting PLAIT_BLOB_STORE: {url!r} is neither file:///path nor s3://bucket/prefix"
    )
