"""The bundle store: compiled flows kept by bundle id in the blob store (ARCHITECTURE.md §5).

A bundle is stored as one object, its deterministic zip (``Bundle.to_zip``), under the
name ``bundles/<bundle id>.zip`` of a ``NamedBlobStore`` (``blobstores.py``): files on
one host, S3 at scale. Cutting a version saves its bundle, and publishing saves it again
(a no-op when it is there), so every published version's bundle is in the store.

Key contracts:

- ``load_bundle`` never returns a bundle whose bytes do not hash to the id asked for
  (``bundle_from_files(..., expected_id=)``): a changed or swapped object is refused with
  ``BundleError``, whichever store it came from.
- Bundles are immutable, so the in-process cache is keyed by id alone and never
  invalidated, only trimmed (least recently used first).
"""

from __future__ import annotations

import io
import re
import threading
import zipfile
from collections import OrderedDict

from plait.node_runner.blobs import BlobNotFound
from plait.node_runner.compiler import FILES, Bundle, bundle_from_files
from plait.node_runner.errors import BundleError

from .blobstores import NamedBlobStore

DEFAULT_CACHE_SIZE = 256
# A zip of a flow under the flow size limit is far smaller; this bounds what a damaged
# or hostile object can make a reader inflate.
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
_BUNDLE_ID = re.compile(r"[0-9a-f]{64}")


def bundle_name(bundle_id: str) -> str:
    """The blob name a bundle is stored under."""
    if not _BUNDLE_ID.fullmatch(bundle_id):
        raise BundleError(f"not a bundle id: {bundle_id!r}")
    return f"bundles/{bundle_id}.zip"


class BundleCache:
    """Loaded bundles by id, least recently used dropped first; thread-safe."""

    def __init__(self, size: int = DEFAULT_CACHE_SIZE) -> None:
        self.size = size
        self._bundles: OrderedDict[str, Bundle] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0  # how many times a bundle was read from a store

    def get(self, bundle_id: str) -> Bundle | None:
        with self._lock:
            bundle = self._bundles.get(bundle_id)
            if bundle is not None:
                self._bundles.move_to_end(bundle_id)
            return bundle

    def add(self, bundle: Bundle) -> None:
        with self._lock:
            self._bundles[bundle.id] = bundle
            self._bundles.move_to_end(bundle.id)
            while len(self._bundles) > self.size:
                self._bundles.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._bundles.clear()

    def __contains__(self, bundle_id: object) -> bool:
        with self._lock:
            return bundle_id in self._bundles

    def __len__(self) -> int:
        return len(self._bundles)


# One cache per process: bundle ids are content hashes, so one id is one bundle in
# every store, and a worker or router serving many stages shares it.
cache = BundleCache()


def save_bundle(store: NamedBlobStore, bundle: Bundle) -> str:
    """Store ``bundle`` (when it is not there yet) and return its id."""
    name = bundle_name(bundle.id)
    if not store.exists_named(name):
        store.put_named(name, bundle.to_zip())
    return bundle.id


def has_bundle(store: NamedBlobStore, bundle_id: str) -> bool:
    return store.exists_named(bundle_name(bundle_id))


def load_bundle(
    store: NamedBlobStore, bundle_id: str, *, bundles: BundleCache | None = None
) -> Bundle:
    """The bundle with this id, from the cache or the store.

    Raises:
        BlobNotFound: the store holds no bundle with this id.
        BundleError: the stored bytes are not a bundle, or not the one with this id.
    """
    bundles = cache if bundles is None else bundles
    found = bundles.get(bundle_id)
    if found is not None:
        return found
    data = store.get_named(bundle_name(bundle_id))
    bundle = bundle_from_files(_unzip(data, bundle_id), expected_id=bundle_id)
    bundles.loads += 1
    bundles.add(bundle)
    return bundle


def _unzip(data: bytes, bundle_id: str) -> dict[str, bytes]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            if sorted(i.filename for i in infos) != sorted(FILES):
                raise BundleError(f"the stored bundle {bundle_id} does not hold exactly {FILES}")
            if sum(i.file_size for i in infos) > MAX_BUNDLE_BYTES:
                raise BundleError(f"the stored bundle {bundle_id} is over {MAX_BUNDLE_BYTES} bytes")
            return {name: zf.read(name) for name in FILES}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise BundleError(f"the stored bundle {bundle_id} is not a readable zip: {exc}") from None


__all__ = [
    "BlobNotFound",
    "BundleCache",
    "BundleError",
    "bundle_name",
    "cache",
    "has_bundle",
    "load_bundle",
    "save_bundle",
]
