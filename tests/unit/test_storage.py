import pytest

from webapp.storage import LocalStorage, content_key, make_storage


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
