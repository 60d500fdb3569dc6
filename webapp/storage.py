"""Where uploaded files live. Everything that stores or reads a file goes through ``Storage``.

Keys are content hashes (``ab/cd/abcd….jpg``), so a file never changes once written and can be cached forever.
``LocalStorage`` keeps files on disk (the demo and single-machine installs); an S3-compatible backend for
several app servers implements the same four methods and is chosen with ``STORAGE_BACKEND``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key``; return True if this call created the file (False if it existed)."""

    def open(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...


def content_key(data: bytes, suffix: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"


class LocalStorage:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"storage key escapes the root: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> bool:
        path = self.path(key)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temporary file and rename, so a crash never leaves half a photo under its final name.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return True

    def open(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def exists(self, key: str) -> bool:
        try:
            return self.path(key).is_file()
        except ValueError:
            return False

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def make_storage(backend: str, upload_dir: str) -> Storage:
    if backend == "local":
        return LocalStorage(upload_dir)
    raise ValueError(f"unknown STORAGE_BACKEND {backend!r}; available: 'local'")


# --- Files written inside a database transaction --------------------------------------------------------------
# A photo is written only after its rows are flushed; if the transaction then rolls back, the files it created
# are removed again, so a failed request leaves neither rows nor files behind.

_PENDING = "storage_created_files"


def put_in_transaction(
    session: Session, storage: Storage, key: str, data: bytes, is_referenced: Callable[[str], bool]
) -> None:
    """Write ``data`` under ``key``; remove it again if ``session``'s transaction rolls back.

    ``is_referenced(key)`` is asked (on a fresh connection) before removing, because another transaction may
    have committed a row that uses the same content-addressed file in the meantime.
    """
    if storage.put(key, data):
        session.info.setdefault(_PENDING, []).append((storage, key, is_referenced))


@sa.event.listens_for(Session, "after_commit")
def _forget_created_files(session: Session) -> None:
    session.info.pop(_PENDING, None)


@sa.event.listens_for(Session, "after_rollback")
def _remove_created_files(session: Session) -> None:
    for storage, key, is_referenced in session.info.pop(_PENDING, []):
        try:
            if not is_referenced(key):
                storage.delete(key)
        except Exception:  # cleanup must never hide the error that caused the rollback
            log.exception("could not remove %s after a rollback", key)
