"""The composition root's object graph: one ``Platform`` per process.

It owns the settings, the database, the node registry, the blob store, the secret box,
and (started with the app) the run dispatcher and the live-event hub.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from .crypto import SecretBox
from .db.session import Database
from .settings import Settings

if TYPE_CHECKING:
    from plait.node_runner.registry import NodeRegistry

    from .blobstores import NamedBlobStore


class Platform:
    def __init__(self, settings: Settings, *, database: Database | None = None) -> None:
        self.settings = settings
        self.db = database or Database(settings.db_url)
        # Set when the app starts (see app.lifespan); routes reach them through deps.
        self.dispatcher: Any = None
        self.hub: Any = None

    @cached_property
    def registry(self) -> NodeRegistry:
        from plait.node_runner.registry import NodeRegistry

        return NodeRegistry.discover()

    @cached_property
    def blobs(self) -> NamedBlobStore:
        from .blobstores import open_blob_store

        return open_blob_store(self.settings)

    @cached_property
    def secret_box(self) -> SecretBox:
        return SecretBox(self.settings.master_key)

    def migrate(self) -> None:
        from .db.migrate import upgrade

        if self.db.is_sqlite:
            self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(self.db.engine)
