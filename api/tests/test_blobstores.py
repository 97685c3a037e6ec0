"""Blob stores: the S3 store against moto's server over real HTTP on 127.0.0.1, the file
store, and the choice between them from ``PLAIT_BLOB_STORE``."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apikit import Api, client_for, new_workspace, platform_for

from plait.api.blobstores import (
    BlobIntegrityError,
    LocalBlobStore,
    NamedBlobStore,
    S3BlobStore,
    open_blob_store,
)
from plait.api.bundles import BundleCache, bundle_name, load_bundle, save_bundle
from plait.api.settings import SettingsError, load_settings
from plait.node_runner.blobs import BlobNotFound, BlobStore, content_key
from plait.node_runner.compiler import compile_flow
from plait.node_runner.errors import BundleError
from plait.node_runner.registry import NodeRegistry


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The usual AWS settings pointing at moto, and no real AWS configuration."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    return moto_endpoint


@pytest.fixture
def bucket(aws_env: str) -> str:
    import boto3

    name = f"plait-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


def raw_client() -> Any:
    import boto3

    return boto3.client("s3")


def check_contract(store: BlobStore) -> None:
    """What the engine relies on: content keys, idempotent puts, BlobNotFound."""
    key = store.put(b"hello")
    assert key == content_key(b"hello")
    assert store.put(b"hello") == key
    assert store.get(key) == b"hello" and store.exists(key)
    missing = content_key(b"missing")
    assert not store.exists(missing)
    with pytest.raises(BlobNotFound):
        store.get(missing)
    with pytest.raises(BlobNotFound):
        store.get("md5:abc")
    big = bytes(range(256)) * 8192  # 2 MiB
    assert store.get(store.put(big)) == big


def check_named(store: NamedBlobStore) -> None:
    assert not store.exists_named("bundles/x.zip")
    with pytest.raises(BlobNotFound):
        store.get_named("bundles/x.zip")
    store.put_named("bundles/x.zip", b"one")
    store.put_named("bundles/x.zip", b"two")
    assert store.get_named("bundles/x.zip") == b"two" and store.exists_named("bundles/x.zip")


def test_s3_store_keeps_the_blob_contract_over_http(bucket: str) -> None:
    store = S3BlobStore(f"s3://{bucket}/plait/blobs")
    assert isinstance(store, NamedBlobStore)
    check_contract(store)
    check_named(store)
    keys = {o["Key"] for o in raw_client().list_objects_v2(Bucket=bucket)["Contents"]}
    digest = content_key(b"hello").removeprefix("sha256:")
    assert f"plait/blobs/sha256/{digest[:2]}/{digest[2:]}" in keys
    assert "plait/blobs/bundles/x.zip" in keys
    # A bucket without a prefix works too.
    assert S3BlobStore(f"s3://{bucket}").get_named("plait/blobs/bundles/x.zip") == b"two"


def test_s3_store_refuses_a_changed_value(bucket: str) -> None:
    store = S3BlobStore(f"s3://{bucket}/p")
    key = store.put(b"the real value")
    digest = key.removeprefix("sha256:")
    raw_client().put_object(Bucket=bucket, Key=f"p/sha256/{digest[:2]}/{digest[2:]}", Body=b"x")
    with pytest.raises(BlobIntegrityError):
        store.get(key)


def test_bundles_round_trip_through_s3_and_a_tampered_one_is_refused(bucket: str) -> None:
    registry = NodeRegistry.discover()
    hello = Path(__file__).parents[2] / "examples" / "hello.json"
    document = json.loads(hello.read_text())
    bundle = compile_flow(document, registry)
    other = compile_flow({**document, "description": "other"}, registry)
    store = S3BlobStore(f"s3://{bucket}/bundles-test")
    save_bundle(store, bundle)
    assert load_bundle(store, bundle.id, bundles=BundleCache()) == bundle

    # Someone with write access to the bucket swaps the object: refused, whatever it holds.
    object_key = f"bundles-test/{bundle_name(bundle.id)}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in bundle.files.items():
            zf.writestr(name, data.replace(b"Hello", b"Jello"))
    for data in (other.to_zip(), buf.getvalue(), b"junk"):
        raw_client().put_object(Bucket=bucket, Key=object_key, Body=data)
        with pytest.raises(BundleError):
            load_bundle(store, bundle.id, bundles=BundleCache())


def test_the_setting_chooses_the_store(tmp_path: Path, aws_env: str) -> None:
    local = open_blob_store(load_settings(data_dir=tmp_path))
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "blobs"
    elsewhere = open_blob_store(load_settings(blob_store=f"file://{tmp_path / 'b'}"))
    assert isinstance(elsewhere, LocalBlobStore) and elsewhere.root == tmp_path / "b"
    check_contract(local)
    check_named(local)
    s3 = open_blob_store(load_settings(data_dir=tmp_path, blob_store="s3://bkt/some/prefix"))
    assert isinstance(s3, S3BlobStore)
    assert (s3.bucket, s3.prefix) == ("bkt", "some/prefix")
    for bad in ("ftp://x", "s3://", "/plain/path"):
        with pytest.raises(SettingsError, match="PLAIT_BLOB_STORE"):
            open_blob_store(load_settings(data_dir=tmp_path, blob_store=bad))


def test_publishing_on_an_s3_platform_puts_the_bundle_in_the_bucket(
    bucket: str, tmp_path: Path
) -> None:
    from test_publish import new_flow, new_project, ok, publish, webhook_flow

    with (
        platform_for("sqlite", tmp_path / "p", blob_store=f"s3://{bucket}/plait") as platform,
        client_for(platform) as client,
    ):
        assert isinstance(platform.blobs, S3BlobStore)
        api = Api(client, new_workspace(platform, "alpha"))
        flow = new_flow(api, new_project(api), webhook_flow("/hello/{name}"))
        published = ok(publish(api, flow["id"]))
    keys = {o["Key"] for o in raw_client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert f"plait/bundles/{published['bundle_id']}.zip" in keys
