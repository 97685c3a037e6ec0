"""The bundle store: one zip per bundle id, checked against the id on the way back, cached."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from plait.api.blobstores import LocalBlobStore
from plait.api.bundles import BundleCache, bundle_name, has_bundle, load_bundle, save_bundle
from plait.node_runner.blobs import BlobNotFound
from plait.node_runner.compiler import Bundle, compile_flow
from plait.node_runner.errors import BundleError
from plait.node_runner.registry import NodeRegistry

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def registry() -> NodeRegistry:
    return NodeRegistry.discover()


def bundle_of(registry: NodeRegistry, name: str = "hello.json", **changes: Any) -> Bundle:
    document = {**json.loads((EXAMPLES / name).read_text()), **changes}
    return compile_flow(document, registry)


def rezip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_a_saved_bundle_loads_back_by_id(tmp_path: Path, registry: NodeRegistry) -> None:
    store = LocalBlobStore(tmp_path)
    bundle = bundle_of(registry)
    assert not has_bundle(store, bundle.id)
    assert save_bundle(store, bundle) == bundle.id
    assert has_bundle(store, bundle.id)
    # One object: the bundle's deterministic zip, under a name made of its id.
    assert store.get_named(bundle_name(bundle.id)) == bundle.to_zip()
    loaded = load_bundle(store, bundle.id, bundles=BundleCache())
    assert loaded == bundle and loaded.manifest["id"] == bundle.id
    save_bundle(store, bundle)  # saving again is harmless
    with pytest.raises(BlobNotFound):
        load_bundle(store, "0" * 64, bundles=BundleCache())
    with pytest.raises(BundleError):
        load_bundle(store, "../../etc/passwd", bundles=BundleCache())


def test_bytes_that_do_not_hash_to_the_id_are_refused(
    tmp_path: Path, registry: NodeRegistry
) -> None:
    store = LocalBlobStore(tmp_path)
    bundle, other = bundle_of(registry), bundle_of(registry, description="another")
    name = bundle_name(bundle.id)

    # Another valid bundle under this id: it hashes to its own id, not this one.
    store.put_named(name, other.to_zip())
    with pytest.raises(BundleError, match="expected"):
        load_bundle(store, bundle.id, bundles=BundleCache())

    # flow.py changed: no longer the digest in the manifest.
    files = dict(bundle.files)
    files["flow.py"] += b"\nimport os\n"
    store.put_named(name, rezip(files))
    with pytest.raises(BundleError, match="digest"):
        load_bundle(store, bundle.id, bundles=BundleCache())

    # The manifest and flow.py changed consistently: the id no longer matches.
    manifest = json.loads(bundle.files["manifest.json"])
    manifest["flow"]["name"] = "evil"
    files = {**bundle.files, "manifest.json": json.dumps(manifest).encode()}
    store.put_named(name, rezip(files))
    with pytest.raises(BundleError):
        load_bundle(store, bundle.id, bundles=BundleCache())

    # Not a zip, a zip with an extra file, flipped bytes (CRC).
    for data in (
        b"not a zip",
        rezip({**bundle.files, "extra.py": b"x = 1"}),
        bundle.to_zip()[:-30] + bytes(30),
    ):
        store.put_named(name, data)
        with pytest.raises(BundleError):
            load_bundle(store, bundle.id, bundles=BundleCache())

    store.put_named(name, bundle.to_zip())
    assert load_bundle(store, bundle.id, bundles=BundleCache()) == bundle


def test_loads_are_cached_by_id_in_lru_order(tmp_path: Path, registry: NodeRegistry) -> None:
    store = LocalBlobStore(tmp_path)
    bundles = [bundle_of(registry, description=f"v{i}") for i in range(3)]
    for bundle in bundles:
        save_bundle(store, bundle)
    cache = BundleCache(size=2)
    first = load_bundle(store, bundles[0].id, bundles=cache)
    assert load_bundle(store, bundles[0].id, bundles=cache) is first
    assert cache.loads == 1
    # The cache answers even when the store has lost the object (bundles are immutable).
    (tmp_path / bundle_name(bundles[0].id)).unlink()
    assert load_bundle(store, bundles[0].id, bundles=cache) is first

    load_bundle(store, bundles[1].id, bundles=cache)
    load_bundle(store, bundles[0].id, bundles=cache)  # most recent again
    load_bundle(store, bundles[2].id, bundles=cache)  # evicts bundles[1]
    assert bundles[0].id in cache and bundles[2].id in cache and bundles[1].id not in cache
    assert len(cache) == 2 and cache.loads == 3


def test_named_objects_cannot_reach_values_or_leave_the_store(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    key = store.put(b"value")
    for name in ("../x", "a/../../x", "/abs", "sha256/ab/cd", "", "A", "a//b", ".hidden"):
        with pytest.raises(ValueError):
            store.put_named(name, b"x")
    assert store.get(key) == b"value"
    assert not (tmp_path / "x").exists()
