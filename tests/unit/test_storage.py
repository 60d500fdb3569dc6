import hashlib
import urllib.request

import pytest
import sqlalchemy as sa

from webapp.db import db
from webapp.storage import (
    CHUNK_SIZE,
    LocalStorage,
    content_key,
    copy_objects,
    key_digest,
    make_storage,
    put_in_transaction,
)


def test_content_key_is_stable_and_sharded():
    key = content_key(b"abc", ".jpg")
    assert key == content_key(b"abc", ".jpg") != content_key(b"abd", ".jpg")
    assert key.count("/") == 2 and key.endswith(".jpg")


def test_local_storage_put_open_delete(tmp_path):
    storage = LocalStorage(tmp_path)
    key = content_key(b"photo", ".jpg")
    assert storage.put(key, b"photo") is True
    assert storage.put(key, b"photo") is False  # content-addressed: already there
    assert storage.exists(key) and storage.open(key) == b"photo"
    storage.delete(key)
    assert not storage.exists(key)
    assert not list(tmp_path.rglob(".tmp-*"))


@pytest.mark.parametrize("key", ["../outside.jpg", "/etc/passwd", "aa/../../x.jpg"])
def test_local_storage_refuses_keys_outside_its_root(tmp_path, key):
    storage = LocalStorage(tmp_path / "root")
    assert storage.exists(key) is False
    with pytest.raises(ValueError):
        storage.put(key, b"x")


def test_unknown_backend_is_refused(tmp_path):
    with pytest.raises(ValueError, match="STORAGE_BACKEND"):
        make_storage("floppy", str(tmp_path))


# --- Both backends: the local disk and a real S3-compatible server (moto on loopback) --------------------------


def test_put_open_stream_delete_on_every_backend(any_storage):
    data = bytes(range(256)) * 1000  # 256 KB: several stream chunks
    key = content_key(data, ".jpg")
    assert any_storage.put(key, data) is True
    assert any_storage.put(key, data) is False
    assert any_storage.exists(key)
    assert any_storage.open(key) == data
    size, chunks = any_storage.stream(key)
    parts = list(chunks)
    assert size == len(data) and b"".join(parts) == data
    assert len(parts) > 1 and max(len(p) for p in parts) <= CHUNK_SIZE  # streamed, not read whole
    assert list(any_storage.keys()) == [key]
    any_storage.delete(key)
    assert not any_storage.exists(key)
    any_storage.delete(key)  # deleting what is gone is not an error
    assert list(any_storage.keys()) == []


def test_a_missing_file_is_file_not_found_on_every_backend(any_storage):
    key = content_key(b"never stored", ".jpg")
    assert not any_storage.exists(key)
    with pytest.raises(FileNotFoundError):
        any_storage.open(key)
    with pytest.raises(FileNotFoundError):
        any_storage.stream(key)


def test_only_s3_hands_out_public_urls(any_storage):
    data = b"a public photo"
    key = content_key(data, ".jpg")
    any_storage.put(key, data)
    url = any_storage.public_url(key)
    if isinstance(any_storage, LocalStorage):
        assert url is None and any_storage.public_origin() is None
        return
    assert url.startswith(any_storage.public_origin() + "/")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=604800" in url
    assert any_storage.public_url(key) == url  # reused, so browsers cache the photo under one URL
    with urllib.request.urlopen(url, timeout=10) as answer:  # the object store serves it without the app
        assert answer.read() == data
        assert "max-age=604800" in answer.headers["Cache-Control"]


def test_addressing_style_decides_where_the_bucket_goes():
    settings = {
        "S3_BUCKET": "city-photos",
        "S3_ENDPOINT_URL": "https://oss-cn-beijing.aliyuncs.com",
        "S3_REGION": "oss-cn-beijing",
        "AWS_ACCESS_KEY_ID": "id",
        "AWS_SECRET_ACCESS_KEY": "secret",
    }
    virtual = make_storage("s3", "", {**settings, "S3_ADDRESSING_STYLE": "virtual"})
    path = make_storage("s3", "", {**settings, "S3_ADDRESSING_STYLE": "path"})
    key = content_key(b"x", ".jpg")
    # Signing happens locally: no request is made.
    assert virtual.public_url(key).startswith(f"https://city-photos.oss-cn-beijing.aliyuncs.com/{key}?")
    assert path.public_url(key).startswith(f"https://oss-cn-beijing.aliyuncs.com/city-photos/{key}?")
    assert virtual.public_origin() == "https://city-photos.oss-cn-beijing.aliyuncs.com"
    with pytest.raises(ValueError, match="S3_ADDRESSING_STYLE"):
        make_storage("s3", "", {**settings, "S3_ADDRESSING_STYLE": "sideways"})
    with pytest.raises(ValueError, match="S3_BUCKET"):
        make_storage("s3", "", {**settings, "S3_BUCKET": ""})


def test_a_rolled_back_transaction_removes_the_files_it_wrote_on_every_backend(app, any_storage):
    data = b"written inside a transaction"
    key = content_key(data, ".jpg")
    with app.app_context():
        db.session.execute(sa.text("SELECT 1"))  # a transaction is open, as in a request that writes rows
        put_in_transaction(db.session, any_storage, key, data, lambda _key: False)
        assert any_storage.exists(key)
        db.session.rollback()
    assert not any_storage.exists(key)


# --- Copying a store to another backend (flask storage-migrate) --------------------------------------------------


def _fill(storage, count):
    keys = []
    for number in range(count):
        data = f"photo {number}".encode() * 100
        key = content_key(data, ".jpg")
        storage.put(key, data)
        keys.append(key)
    return sorted(keys)


def test_copy_objects_verifies_each_copy_and_resumes(tmp_path, s3_storage):
    local = LocalStorage(tmp_path / "uploads")
    keys = _fill(local, 5)
    s3_storage.put(keys[0], local.open(keys[0]))  # an earlier run copied one file before it was interrupted
    s3_storage.client.put_object(Bucket=s3_storage.bucket, Key=keys[1], Body=b"half a fi")  # and broke one
    lines = []
    counts = copy_objects(local, s3_storage, progress=lines.append)
    assert counts == {"copied": 4, "skipped": 1, "failed": 0}
    assert lines[0].startswith("[1/5] ") and lines[-1].startswith("[5/5] ")
    assert sorted(s3_storage.keys()) == keys
    for key in keys:
        assert hashlib.sha256(s3_storage.open(key)).hexdigest() == key_digest(key)
    assert copy_objects(local, s3_storage, progress=lines.append) == {"copied": 0, "skipped": 5, "failed": 0}
    back = LocalStorage(tmp_path / "back")  # and the other way
    assert copy_objects(s3_storage, back, progress=lines.append)["copied"] == 5
    assert sorted(back.keys()) == keys


def test_copy_objects_refuses_a_file_that_does_not_match_its_name(tmp_path, s3_storage):
    local = LocalStorage(tmp_path / "uploads")
    key = content_key(b"the original", ".jpg")
    local.path(key).parent.mkdir(parents=True)
    local.path(key).write_bytes(b"something else")  # corrupted on disk
    lines = []
    assert copy_objects(local, s3_storage, progress=lines.append) == {"copied": 0, "skipped": 0, "failed": 1}
    assert "does not match its content hash" in lines[0]
    assert not s3_storage.exists(key)


def test_storage_migrate_command(app, tmp_path, s3_server):
    settings = s3_server.settings()
    make_storage("s3", "", settings).ensure_bucket()
    local = LocalStorage(tmp_path / "uploads")
    keys = _fill(local, 3)
    runner = app.test_cli_runner()
    saved = {name: app.config.get(name) for name in [*settings, "UPLOAD_DIR"]}
    app.config.update(settings, UPLOAD_DIR=str(tmp_path / "uploads"))
    try:
        first = runner.invoke(args=["storage-migrate", "--to", "s3"])
        again = runner.invoke(args=["storage-migrate", "--to", "s3"])
        app.config["S3_BUCKET"] = "cg-test-no-such-bucket"
        missing = runner.invoke(args=["storage-migrate", "--to", "s3"])
    finally:
        app.config.update(saved)
    assert first.exit_code == 0, first.output
    assert "[3/3] copied" in first.output and "Done: 3 copied, 0 already there, 0 failed." in first.output
    assert again.exit_code == 0 and "Done: 0 copied, 3 already there, 0 failed." in again.output
    assert missing.exit_code != 0 and "object store" in missing.output
    assert sorted(make_storage("s3", "", settings).keys()) == keys
