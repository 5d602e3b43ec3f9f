"""Files (PDFs, archives) kept outside the database, addressed by the SHA-256 of their content.

:class:`BlobStore` is the small interface every file goes through: ``put`` bytes or a stream and get
the content's key back, ``open`` / ``get`` by key, ``exists``, ``size``. Two implementations:

- :class:`DirectoryBlobStore` (the default): ``MEDCARD_HOME/blobs/ab/cd/abcd...``. A blob is written
  to a temporary file in the same file system, flushed to disk (fsync) and renamed into place, so a
  reader never sees half a file and a crash leaves at most a stray temporary file;
- :class:`S3BlobStore`: any S3-compatible object storage (boto3), for production, where several
  servers share the files.

A key is the lowercase hex SHA-256 of the content: the same file is stored once, and reading checks
the content against its key. A blob that is missing or whose content no longer matches its key is
never served: :class:`BlobMissing` / :class:`BlobDamaged` (an OperationOutcome for the API) and a log
line that names the key only (a hash says nothing about the patient).

The methods are synchronous (file and network I/O); async callers run them with ``asyncio.to_thread``
(see :func:`read_verified`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from medcard.config import Settings
from medcard.core.errors import MedcardError

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
IN_MEMORY = 16 * 1024 * 1024  # blobs up to this size are verified in memory; larger ones in a first pass
_KEY = re.compile(r"[0-9a-f]{64}")

Source = bytes | BinaryIO | Iterable[bytes]


class BlobError(MedcardError):
    """A stored file cannot be served: the server's fault, not the request's (500, ``exception``)."""

    status = 500
    code = "exception"


class BlobMissing(BlobError):
    pass


class BlobDamaged(BlobError):
    pass


class Reader(Protocol):
    """An open blob: what both a file and an S3 response body offer."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


def check_key(key: str) -> str:
    """A key must be a SHA-256 in hex: nothing else reaches a path or an object name."""
    if not _KEY.fullmatch(key):
        raise ValueError("a blob key is the lowercase hex SHA-256 of the content")
    return key


def _chunks(data: Source) -> Iterator[bytes]:
    if isinstance(data, bytes | bytearray | memoryview):
        yield bytes(data)
    elif hasattr(data, "read"):
        while piece := data.read(CHUNK):
            yield piece
    else:
        yield from data


def missing(key: str) -> BlobMissing:
    log.error("blob %s is missing from the blob store", key)
    return BlobMissing("a stored file is missing from the blob store; the administrators can find it in the "
                       "server log")


def damaged(key: str) -> BlobDamaged:
    log.error("blob %s does not match its hash: the stored file is damaged", key)
    return BlobDamaged("a stored file is damaged (its content does not match its hash); it is not served; "
                       "the administrators can find it in the server log")


class BlobStore(ABC):
    """The interface; see the module's docstring."""

    @abstractmethod
    def put(self, data: Source) -> str:
        """Store bytes, a readable binary file or an iterable of chunks; the content's key."""
        raise NotImplementedError

    @abstractmethod
    def open(self, key: str) -> Reader:
        """The blob for reading (unverified: see :meth:`get` and :func:`read_verified`); BlobMissing if absent."""
        raise NotImplementedError

    @abstractmethod
    def exists(self, key: str) -> bool:
        raise NotImplementedError

    @abstractmethod
    def size(self, key: str) -> int:
        """The blob's size in bytes; BlobMissing if absent."""
        raise NotImplementedError

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove a blob (nothing happens when it is absent)."""
        raise NotImplementedError

    def get(self, key: str) -> bytes:
        """The whole blob, checked against its key; BlobMissing or BlobDamaged otherwise."""
        reader = self.open(key)
        try:
            data = reader.read()
        finally:
            reader.close()
        if hashlib.sha256(data).hexdigest() != key:
            raise damaged(key)
        return data

    def verify(self, key: str) -> int:
        """Read the blob through and check it against its key; its size."""
        digest, size = hashlib.sha256(), 0
        reader = self.open(key)
        try:
            while piece := reader.read(CHUNK):
                digest.update(piece)
                size += len(piece)
        finally:
            reader.close()
        if digest.hexdigest() != key:
            raise damaged(key)
        return size


class DirectoryBlobStore(BlobStore):
    """Blobs as files under a directory, two levels of fan-out: ``ab/cd/abcd...``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key[2:4] / key

    def put(self, data: Source) -> str:
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                for piece in _chunks(data):
                    digest.update(piece)
                    out.write(piece)
                out.flush()
                os.fsync(out.fileno())
            key = digest.hexdigest()
            final = self.path(key)
            if final.exists():  # the same content is stored once
                tmp.unlink()
                return key
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            return key
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise

    def open(self, key: str) -> Reader:
        try:
            return self.path(key).open("rb")
        except FileNotFoundError:
            raise missing(key) from None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self.path(key).stat().st_size
        except FileNotFoundError:
            raise missing(key) from None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: flush the directory entry too (POSIX)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class S3BlobStore(BlobStore):
    """Blobs as objects of one bucket of S3-compatible storage, named ``{prefix}{key}``."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        import boto3  # only deployments that use S3 pay for importing it
        from botocore.config import Config

        if not settings.s3_bucket:
            raise ValueError("MEDCARD_BLOB_STORE=s3 needs MEDCARD_S3_BUCKET")
        client = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url or None, region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id, aws_secret_access_key=settings.s3_secret_access_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}))
        return cls(client, settings.s3_bucket, settings.s3_prefix)

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def put(self, data: Source) -> str:
        if isinstance(data, bytes | bytearray | memoryview):
            key = hashlib.sha256(data).hexdigest()
            if not self.exists(key):
                self.client.put_object(Bucket=self.bucket, Key=self._name(key), Body=bytes(data))
            return key
        # The key is the content's hash, known only at the end: spool the stream (to disk beyond 16 MB).
        digest = hashlib.sha256()
        with tempfile.SpooledTemporaryFile(max_size=IN_MEMORY) as spool:
            for piece in _chunks(data):
                digest.update(piece)
                spool.write(piece)
            key = digest.hexdigest()
            if not self.exists(key):
                spool.seek(0)
                self.client.upload_fileobj(spool, self.bucket, self._name(key))
        return key

    def open(self, key: str) -> Reader:
        try:
            body: Reader = self.client.get_object(Bucket=self.bucket, Key=self._name(key))["Body"]
        except self.client.exceptions.NoSuchKey:
            raise missing(key) from None
        return body

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            head: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def size(self, key: str) -> int:
        head = self._head(key)
        if head is None:
            raise missing(key)
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._name(key))


_stores: dict[int, tuple[Settings, BlobStore]] = {}


def blob_store(settings: Settings) -> BlobStore:
    """The blob store the settings configure (one per settings object, so per process)."""
    found = _stores.get(id(settings))
    if found is not None and found[0] is settings:
        return found[1]
    store: BlobStore
    if settings.blob_store == "s3":
        store = S3BlobStore.from_settings(settings)
    else:
        store = DirectoryBlobStore(settings.blob_dir or settings.home / "blobs")
    _stores[id(settings)] = (settings, store)
    return store


async def primed(chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Run a stream up to its first chunk now (where :func:`read_verified` checks the blob and raises), and
    hand back the whole of it: a response built on it starts only once the content is known to be good."""
    first = await anext(chunks, b"")

    async def again() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for piece in chunks:
            yield piece

    return again()


async def read_verified(store: BlobStore, key: str) -> AsyncIterator[bytes]:
    """The blob's content in chunks, for a response; nothing is yielded unless the content matches its key.

    Up to 16 MB the blob is read once and checked in memory; beyond, it is read through and checked
    first, then read again as it is sent (the content cannot change: its name is its hash, and a
    damaged copy would have failed the first pass).
    """
    import asyncio

    size = await asyncio.to_thread(store.size, key)
    if size <= IN_MEMORY:
        data = await asyncio.to_thread(store.get, key)
        for start in range(0, len(data), CHUNK):
            yield data[start:start + CHUNK]
        return
    await asyncio.to_thread(store.verify, key)
    reader = await asyncio.to_thread(store.open, key)
    try:
        while piece := await asyncio.to_thread(reader.read, CHUNK):
            yield piece
    finally:
        await asyncio.to_thread(reader.close)
