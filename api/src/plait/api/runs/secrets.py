"""A run's secrets: the project's ``Secret`` rows, opened only when a node reads one.

**The sealing context is a contract** with the secrets service that writes the rows
(``services/secrets.py``, whose ``context`` this uses): a value is sealed with
``"{workspace_id}/{project_id}/{name}"`` as the AES-GCM associated data, so a
ciphertext copied to another row, project or workspace does not open.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..crypto import SecretBox
from ..db.models import Secret
from ..services.secrets import context as secret_context

log = logging.getLogger(__name__)

__all__ = ["ProjectSecrets", "secret_context"]


class ProjectSecrets:
    """``Secrets`` for one run: ciphertexts loaded at the start, each opened on first use.

    ``get`` is synchronous (expressions call it while rendering), so the rows are read
    before the run starts; plaintext exists only for the secrets the run actually uses.
    """

    def __init__(
        self, box: SecretBox, workspace_id: str, project_id: str, sealed: Mapping[str, bytes]
    ) -> None:
        self._box = box
        self._workspace_id = workspace_id
        self._project_id = project_id
        self._sealed = dict(sealed)
        self._open: dict[str, str | None] = {}

    @classmethod
    def load(
        cls, session: Session, box: SecretBox, workspace_id: str, project_id: str
    ) -> ProjectSecrets:
        rows = session.execute(
            select(Secret.name, Secret.ciphertext).where(
                Secret.workspace_id == workspace_id, Secret.project_id == project_id
            )
        )
        return cls(box, workspace_id, project_id, {name: sealed for name, sealed in rows})

    def get(self, name: str) -> str | None:
        if name in self._open:
            return self._open[name]
        sealed = self._sealed.get(name)
        value = None
        if sealed is not None:
            try:
                value = self._box.open(
                    sealed, secret_context(self._workspace_id, self._project_id, name)
                )
            except (InvalidTag, ValueError):
                # Sealed under another key or context: treat as missing, and say so once
                # (by name only; never the value).
                log.warning("secret %r of project %s does not open", name, self._project_id)
        self._open[name] = value
        return value

    def names(self) -> list[str]:
        return sorted(self._sealed)
