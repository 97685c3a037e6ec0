"""Large values travel by reference through the blob store."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

import testnodes
from flowkit import bundle, node
from plait.node_runner.blobs import (
    BlobNotFound,
    FileBlobStore,
    InMemoryBlobStore,
    externalize,
    is_blob_ref,
    resolve,
)
from plait.node_runner.engine import Executor
from plait.node_runner.events import JsonlEventStore
from plait.node_runner.state import RunStatus

SIZE = 50_000_000


def test_small_values_stay_inline_and_large_ones_become_references() -> None:
    store = InMemoryBlobStore()
    assert externalize({"a": [1, 2, "x"]}, store, 1024) == {"a": [1, 2, "x"]}
    ref = externalize("y" * 5000, store, 1024)
    assert is_blob_ref(ref) and ref["size"] == 5002 and ref["$blob"].startswith("sha256:")
    assert resolve(ref, store) == "y" * 5000
    nested = externalize({"items": ["z" * 600, "z" * 600]}, store, 1024)
    assert is_blob_ref(nested)
    # Plain data that looks like a reference is escaped, never followed.
    assert resolve(externalize(ref, store, 10_000), store) == ref
    assert externalize(ref, store, 10_000) == {"$literal": ref}


def test_file_blob_store_is_content_addressed_and_refuses_bad_keys(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    key = store.put(b"hello")
    assert key == store.put(b"hello")
    assert store.get(key) == b"hello" and store.exists(key)
    for bad in ("sha256:../../etc/passwd", "md5:abc", "sha256:" + "g" * 64):
        with pytest.raises(BlobNotFound):
            store.get(bad)
    with pytest.raises(BlobNotFound):
        store.get("sha256:" + "0" * 64)


@pytest.mark.slow
async def test_fifty_megabytes_through_five_nodes_hold_a_small_multiple_of_one_copy(
    tmp_path: Path,
) -> None:
    blobs = FileBlobStore(tmp_path / "blobs")
    store = JsonlEventStore(tmp_path / "events.jsonl", fsync=False)
    ex = Executor(testnodes.registry(), store=store, blobs=blobs)
    b = bundle(
        [node("s", "start"), node("big", "big", params={"size": SIZE})]
        + [node(f"pass{i}", "echo") for i in range(1, 5)]
        + [node("len", "length")],
        ["s.payload -> big.input", "big.output -> pass1.input"]
        + [f"pass{i}.output -> pass{i + 1}.input" for i in range(1, 4)]
        + ["pass4.output -> len.input"],
    )
    ex.plan(b)  # load outside the measurement
    tracemalloc.start()
    try:
        result = await ex.run(b, None)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.status is RunStatus.SUCCEEDED
    assert result.output("len", "length") == SIZE
    # Five nodes each see the value, but never more than a few copies live at once.
    print(f"peak traced memory: {peak / SIZE:.2f} copies of the value")
    assert peak < 5 * SIZE, f"peak {peak / SIZE:.2f} copies"
    # The events carry references, not the value: the log stays small.
    assert (tmp_path / "events.jsonl").stat().st_size < 100_000
    refs = [
        json.loads(line)["data"]["outputs"]["output"]
        for line in (tmp_path / "events.jsonl").read_text().splitlines()
        if '"node.succeeded"' in line and '"$blob"' in line
    ]
    assert len(refs) == 5 and len({r["$blob"] for r in refs}) == 1  # stored once


async def test_data_shaped_like_a_reference_stays_data() -> None:
    blobs = InMemoryBlobStore()
    secret_key = blobs.put(b'"secret"')
    lookalike = {"$blob": secret_key, "size": 8}
    escaped_lookalike = {"$literal": {"x": 1}}
    ex = Executor(testnodes.registry(), blobs=blobs)
    b = bundle(
        [
            node("s", "start"),
            node("a", "echo"),
            node("b", "echo", params={"value": lookalike}),
            node("c", "collect"),
        ],
        [
            "s.payload -> a.input",
            "a.output -> c.items",
            "s.payload -> b.input",
            "b.output -> c.items",
        ],
    )
    for payload in (lookalike, escaped_lookalike, [lookalike]):
        result = await ex.run(b, payload)
        assert result.output("a", "output") == payload
        assert result.output("c", "items") == [payload, lookalike]
        assert "secret" not in json.dumps(result.to_json())
