"""The blob store: a content-addressed directory and S3-compatible storage (moto's server on loopback)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from conftest import free_port
from medcard.config import Settings
from medcard.documents.blobs import (
    BlobDamaged,
    BlobMissing,
    BlobStore,
    DirectoryBlobStore,
    S3BlobStore,
    blob_store,
    read_verified,
)

PDF = b"%PDF-1.7\n" + "Справка № 1 « » ° µ ±".encode() + bytes(range(256)) * 100


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's S3-compatible server, in a thread, on a free loopback port."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def _s3_settings(endpoint: str, tmp_path: Path, bucket: str) -> Settings:
    return Settings(home=tmp_path, blob_store="s3", s3_endpoint_url=endpoint, s3_bucket=bucket,
                    s3_access_key_id="test", s3_secret_access_key="test", s3_prefix="blobs/")


@pytest.fixture
def s3_store(moto_endpoint: str, tmp_path: Path, request: pytest.FixtureRequest) -> S3BlobStore:
    bucket = f"medcard-{abs(hash(request.node.name)) % 10**8}"
    settings = _s3_settings(moto_endpoint, tmp_path, bucket)
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=bucket)
    store = blob_store(settings)
    assert isinstance(store, S3BlobStore)
    return store


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "s3":
        found: BlobStore = request.getfixturevalue("s3_store")
        return found
    return blob_store(Settings(home=tmp_path))


def test_put_returns_the_sha256_of_the_content_and_get_gives_it_back(store: BlobStore) -> None:
    key = store.put(PDF)
    assert key == hashlib.sha256(PDF).hexdigest()
    assert store.exists(key)
    assert store.size(key) == len(PDF)
    assert store.get(key) == PDF


def test_streams_and_chunks_are_stored_under_the_same_key_as_the_bytes(store: BlobStore) -> None:
    key = store.put(PDF)
    assert store.put(io.BytesIO(PDF)) == key
    assert store.put(PDF[i:i + 1000] for i in range(0, len(PDF), 1000)) == key
    assert store.get(key) == PDF


def test_a_missing_blob_is_reported(store: BlobStore, caplog: pytest.LogCaptureFixture) -> None:
    absent = hashlib.sha256(b"never stored").hexdigest()
    assert not store.exists(absent)
    with caplog.at_level(logging.ERROR), pytest.raises(BlobMissing) as raised:
        store.get(absent)
    assert raised.value.status == 500
    assert absent in caplog.text


def test_a_key_that_is_not_a_sha256_is_refused(store: BlobStore) -> None:
    with pytest.raises(ValueError, match="SHA-256"):
        store.open("../../etc/passwd")


def test_a_damaged_file_is_reported_not_returned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = DirectoryBlobStore(tmp_path / "blobs")
    key = store.put(PDF)
    store.path(key).write_bytes(PDF[:-1] + b"X")
    with caplog.at_level(logging.ERROR), pytest.raises(BlobDamaged):
        store.get(key)
    assert f"blob {key} does not match its hash" in caplog.text
    with pytest.raises(BlobDamaged):
        store.verify(key)


def test_a_damaged_object_in_s3_is_reported_not_streamed(s3_store: S3BlobStore) -> None:
    key = s3_store.put(PDF)
    s3_store.client.put_object(Bucket=s3_store.bucket, Key=f"blobs/{key}", Body=b"something else")

    async def first_chunk() -> bytes:
        async for piece in read_verified(s3_store, key):
            return piece
        return b""

    with pytest.raises(BlobDamaged):
        asyncio.run(first_chunk())


def test_large_blobs_stream_in_chunks_after_a_checking_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from medcard.documents import blobs

    monkeypatch.setattr(blobs, "IN_MEMORY", 1000)  # so that PDF counts as large
    store = DirectoryBlobStore(tmp_path / "blobs")
    key = store.put(PDF)

    async def read_all() -> list[bytes]:
        return [piece async for piece in read_verified(store, key)]

    assert b"".join(asyncio.run(read_all())) == PDF
    store.path(key).write_bytes(b"x" * len(PDF))
    with pytest.raises(BlobDamaged):
        asyncio.run(read_all())


def test_the_directory_store_writes_atomically_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    store = DirectoryBlobStore(tmp_path / "blobs")
    key = store.put(PDF)
    assert store.path(key) == tmp_path / "blobs" / key[:2] / key[2:4] / key
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []

    def failing() -> Iterator[bytes]:
        yield b"half a file"
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        store.put(failing())
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []
    assert not store.exists(hashlib.sha256(b"half a file").hexdigest())


def test_the_s3_store_keeps_objects_under_the_prefix(s3_store: S3BlobStore) -> None:
    key = s3_store.put(io.BytesIO(PDF))
    names = [o["Key"] for o in s3_store.client.list_objects_v2(Bucket=s3_store.bucket)["Contents"]]
    assert names == [f"blobs/{key}"]
    s3_store.delete(key)
    assert not s3_store.exists(key)
