"""Where uploaded files live. Everything that stores or reads a file goes through ``Storage``.

Keys are content hashes (``ab/cd/abcd….jpg``), so a file never changes once written and can be cached forever.
``LocalStorage`` keeps files on disk (the demo and single-machine installs); ``S3Storage`` keeps them in an
S3-compatible object store (MinIO, Aliyun OSS, Tencent COS, Huawei OBS, AWS) for several app servers. Both have the
same methods; ``STORAGE_BACKEND`` (``local`` or ``s3``) chooses one (``make_storage``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024  # bytes read at a time when a file is streamed


class Storage(Protocol):
    def put(self, key: str, data: bytes) -> bool:
        """Store ``data`` under ``key``; return True if this call created the file (False if it existed)."""

    def open(self, key: str) -> bytes:
        """The whole file (small files only; serve photos with ``stream``). FileNotFoundError when missing."""

    def stream(self, key: str) -> tuple[int, Iterator[bytes]]:
        """The file's size and its bytes in chunks, never the whole file in memory. FileNotFoundError when missing."""

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def keys(self) -> Iterator[str]:
        """Every stored key (for copying a store to another backend)."""

    def public_url(self, key: str) -> str | None:
        """A URL the browser may fetch the file from directly (a presigned URL), or None to stream it through the
        app. Only ever asked for files the public may see."""

    def public_origin(self) -> str | None:
        """The origin (``scheme://host[:port]``) of ``public_url``, for the Content-Security-Policy; None if none."""


def content_key(data: bytes, suffix: str) -> str:
    digest = hashlib.sha256(data).hexdigest()
    return f"{digest[:2]}/{digest[2:4]}/{digest}{suffix}"


def key_digest(key: str) -> str | None:
    """The SHA-256 a content key names (``ab/cd/<64 hex>.jpg`` → ``<64 hex>``), or None for other keys."""
    name = key.rsplit("/", 1)[-1]
    digest = name.split(".", 1)[0]
    if len(digest) == 64 and all(c in "0123456789abcdef" for c in digest):
        return digest
    return None


def _chunks(read: Callable[[int], bytes], close: Callable[[], Any]) -> Iterator[bytes]:
    try:
        while chunk := read(CHUNK_SIZE):
            yield chunk
    finally:
        close()


class LocalStorage:
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

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

    def stream(self, key: str) -> tuple[int, Iterator[bytes]]:
        handle = self.path(key).open("rb")
        return os.fstat(handle.fileno()).st_size, _chunks(handle.read, handle.close)

    def exists(self, key: str) -> bool:
        try:
            return self.path(key).is_file()
        except ValueError:
            return False

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys(self) -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                yield path.relative_to(self.root).as_posix()

    def public_url(self, key: str) -> str | None:
        return None

    def public_origin(self) -> str | None:
        return None


class S3Storage:
    """Files in a bucket of an S3-compatible object store, through boto3.

    ``addressing_style`` is ``path`` (``endpoint/bucket/key``: MinIO, moto) or ``virtual``
    (``bucket.endpoint/key``: Aliyun OSS and Tencent COS refuse path-style requests). Public files are served by
    redirecting to a presigned GET URL that lives ``url_expires`` seconds; the same URL is handed out for
    ``url_reuse`` seconds so browsers and proxies can cache the photo under it.
    """

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        addressing_style: str = "path",
        url_expires: int = 7 * 24 * 3600,
        url_reuse: int | None = None,
        client: Any = None,
    ) -> None:
        if not bucket:
            raise ValueError("STORAGE_BACKEND=s3 needs S3_BUCKET")
        if addressing_style not in {"path", "virtual", "auto"}:
            raise ValueError(f"S3_ADDRESSING_STYLE must be path, virtual or auto, not {addressing_style!r}")
        if url_expires < 60:
            raise ValueError("S3_URL_EXPIRES must be at least 60 seconds")
        if url_reuse is None:
            url_reuse = min(24 * 3600, url_expires // 7)
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.addressing_style = addressing_style
        self.url_expires = url_expires
        self.url_reuse = url_reuse
        if client is None:
            import boto3
            from botocore.config import Config as BotoConfig

            client = boto3.client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=region or None,
                aws_access_key_id=access_key or None,
                aws_secret_access_key=secret_key or None,
                config=BotoConfig(
                    signature_version="s3v4",
                    s3={"addressing_style": addressing_style},
                    retries={"max_attempts": 4, "mode": "standard"},
                    # botocore's default CRC checksums (since 1.36) are refused by several S3-compatible stores
                    # (Aliyun OSS, older MinIO): send them only where the API requires them.
                    request_checksum_calculation="when_required",
                    response_checksum_validation="when_required",
                    connect_timeout=5,
                    read_timeout=30,
                ),
            )
        self.client = client
        self._urls: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._urls_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, endpoint={self.endpoint_url!r}, style={self.addressing_style!r})"

    @staticmethod
    def _missing(error: Exception) -> bool:
        code = str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
        return code in {"404", "NoSuchKey", "NotFound"}

    def put(self, key: str, data: bytes) -> bool:
        if self.exists(key):
            return False
        # A single PUT is atomic: readers see the whole object or none. Two servers writing the same content key
        # at once write the same bytes.
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType="image/jpeg" if key.endswith((".jpg", ".jpeg")) else "application/octet-stream",
        )
        return True

    def _get(self, key: str) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=key)  # type: ignore[no-any-return]
        except ClientError as error:
            if self._missing(error):
                raise FileNotFoundError(key) from None
            raise

    def open(self, key: str) -> bytes:
        body = self._get(key)["Body"]
        try:
            return body.read()  # type: ignore[no-any-return]
        finally:
            body.close()

    def stream(self, key: str) -> tuple[int, Iterator[bytes]]:
        answer = self._get(key)
        body = answer["Body"]
        return int(answer["ContentLength"]), _chunks(body.read, body.close)

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as error:
            if self._missing(error):
                return False
            raise
        return True

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def keys(self) -> Iterator[str]:
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket):
            for item in page.get("Contents", []):
                yield item["Key"]

    def _presign(self, key: str) -> str:
        return self.client.generate_presigned_url(  # type: ignore[no-any-return]
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": key,
                "ResponseCacheControl": f"public, max-age={self.url_expires}, immutable",
            },
            ExpiresIn=self.url_expires,
        )

    def public_url(self, key: str) -> str | None:
        now = time.monotonic()
        with self._urls_lock:
            hit = self._urls.get(key)
            if hit is not None and now - hit[0] < self.url_reuse:
                self._urls.move_to_end(key)
                return hit[1]
        url = self._presign(key)
        with self._urls_lock:
            self._urls[key] = (now, url)
            while len(self._urls) > 10_000:
                self._urls.popitem(last=False)
        return url

    def public_origin(self) -> str | None:
        try:
            url = self._presign("origin-probe")  # signed locally: no request is made
        except Exception:  # no credentials yet (e.g. an instance role not reachable at start): the endpoint's origin
            url = self.endpoint_url or f"https://{self.bucket}.s3.amazonaws.com"
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc}"

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (tests, first start of a MinIO)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self.client.create_bucket(Bucket=self.bucket)


# --- Copying a store to another backend -----------------------------------------------------------------------


def _sha256_of(storage: Storage, key: str) -> str:
    digest = hashlib.sha256()
    _size, chunks = storage.stream(key)
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def copy_objects(source: Storage, target: Storage, *, progress: Callable[[str], Any] = print) -> dict[str, int]:
    """Copy every file of ``source`` to ``target``, verifying each copy by its SHA-256.

    Idempotent and resumable: a file already in ``target`` with the right hash is skipped, one with the wrong
    content (an interrupted or corrupted copy) is written again. Content keys name their hash
    (``ab/cd/<sha256>.jpg``): a source file that does not match its own name is reported and not copied.
    Returns the counts: copied, skipped (already there), failed.
    """
    keys = list(source.keys())
    counts = {"copied": 0, "skipped": 0, "failed": 0}
    for number, key in enumerate(keys, 1):
        expected = _sha256_of(source, key)
        named = key_digest(key)
        if named is not None and named != expected:
            counts["failed"] += 1
            progress(f"[{number}/{len(keys)}] FAILED {key}: the source file does not match its content hash")
            continue
        if target.exists(key) and _sha256_of(target, key) == expected:
            counts["skipped"] += 1
            progress(f"[{number}/{len(keys)}] already there {key}")
            continue
        if target.exists(key):
            target.delete(key)  # a partial or different copy: write it again
        target.put(key, source.open(key))
        if _sha256_of(target, key) == expected:
            counts["copied"] += 1
            progress(f"[{number}/{len(keys)}] copied {key}")
        else:
            counts["failed"] += 1
            progress(f"[{number}/{len(keys)}] FAILED {key}: the copy does not match the original's hash")
    return counts


def make_storage(backend: str, upload_dir: str, config: dict[str, Any] | None = None) -> Storage:
    config = config or {}
    if backend == "local":
        return LocalStorage(upload_dir)
    if backend == "s3":
        return S3Storage(
            config.get("S3_BUCKET") or "",
            endpoint_url=config.get("S3_ENDPOINT_URL"),
            region=config.get("S3_REGION"),
            access_key=config.get("AWS_ACCESS_KEY_ID"),
            secret_key=config.get("AWS_SECRET_ACCESS_KEY"),
            addressing_style=config.get("S3_ADDRESSING_STYLE") or "path",
            url_expires=int(config.get("S3_URL_EXPIRES") or 7 * 24 * 3600),
        )
    raise ValueError(f"unknown STORAGE_BACKEND {backend!r}; available: 'local', 's3'")


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
