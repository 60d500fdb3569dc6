from __future__ import annotations

import json
import os
import re
import shutil

from webapp.pwa import views as pwa


def test_service_worker_is_served_at_the_root_uncached_with_its_release(client):
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Service-Worker-Allowed"] == "/"
    body = response.get_data(as_text=True)
    assert "self.__CITIZEN_GRID__" not in body
    config = json.loads(body.split("var CONFIG = ", 1)[1].split(";\n", 1)[0])
    assert config["cacheName"] == f"citizen-grid-shell-{config['release']}"
    for url in ("/reports/new", "/offline", "/outbox", "/api/v1/categories", "/manifest.webmanifest"):
        assert url in config["precache"]
    assert any(u.startswith("/static/vendor/htmx-2.0.11.min.js?v=") for u in config["precache"])
    for url in config["precache"]:
        assert client.get(url).status_code == 200, url


def test_every_script_and_stylesheet_of_a_precached_page_is_precached(client):
    """Offline, a precached page works only if the files it loads are in the cache too (e.g. the scanner page's
    qr-scanner.js)."""
    config = json.loads(_config_of(client.get("/sw.js").get_data(as_text=True)))
    pages = [url for url in config["precache"] if not url.startswith(("/static/", "/api/", "/manifest"))]
    assert {"/reports/new", "/offline", "/outbox", "/activities/scan"} <= set(pages)
    for url in pages:
        body = client.get(url).get_data(as_text=True)
        loaded = re.findall(r'<script src="([^"]+)"', body) + re.findall(r'<link rel="stylesheet" href="([^"]+)"', body)
        assert loaded and "js/app.js" in " ".join(loaded), url
        assert [asset for asset in loaded if asset not in config["precache"]] == [], url


def test_the_cache_name_changes_when_a_precached_file_changes(app, client, tmp_path, monkeypatch):
    first = json.loads(client.get("/sw.js").get_data(as_text=True).split("var CONFIG = ", 1)[1].split(";\n")[0])
    static = tmp_path / "static"
    shutil.copytree(app.static_folder, static)
    monkeypatch.setattr(app, "static_folder", str(static))
    same = json.loads(client.get("/sw.js").get_data(as_text=True).split("var CONFIG = ", 1)[1].split(";\n")[0])
    assert same["release"] == first["release"]
    (static / "css" / "app.css").write_text((static / "css" / "app.css").read_text() + "\n/* release 2 */\n")
    changed = json.loads(client.get("/sw.js").get_data(as_text=True).split("var CONFIG = ", 1)[1].split(";\n")[0])
    assert changed["release"] != first["release"]
    assert changed["cacheName"] != first["cacheName"]


def test_manifest_makes_the_app_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json(force=True)
    assert manifest["name"] == "全民网格" and manifest["display"] == "standalone"
    assert manifest["start_url"].startswith("/") and manifest["scope"] == "/"
    sizes = {icon["sizes"] for icon in manifest["icons"]}
    assert {"192x192", "512x512"} <= sizes
    assert any(icon["purpose"] == "maskable" for icon in manifest["icons"])
    for icon in manifest["icons"]:
        assert client.get(icon["src"]).status_code == 200


def test_offline_and_outbox_pages(client):
    offline = client.get("/offline")
    assert offline.status_code == 200 and "现在没有网络" in offline.get_data(as_text=True)
    outbox = client.get("/outbox")
    body = outbox.get_data(as_text=True)
    assert outbox.status_code == 200 and 'id="outbox-list"' in body and "outbox-page.js" in body


def test_every_page_links_the_manifest_and_the_outbox_badge(client):
    body = client.get("/").get_data(as_text=True)
    assert 'rel="manifest"' in body and 'id="outbox-count"' in body and "js/outbox.js" in body


def test_static_files_are_gzipped_and_cached_by_content_hash(client):
    from webapp.rendering import static_url

    with client.application.test_request_context():
        url = static_url("vendor/htmx-2.0.11.min.js")
    response = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert "immutable" in response.headers["Cache-Control"]
    assert len(response.data) < 20_000
    again = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    plain = client.get("/static/css/app.css")
    assert "Content-Encoding" not in plain.headers and "immutable" not in plain.headers["Cache-Control"]
    assert client.get("/static/../webapp/config.py").status_code == 404


def _config_of(worker_source: str) -> str:
    return worker_source.split("var CONFIG = ", 1)[1].split(";\n")[0]


def test_release_id_changes_with_the_files_it_covers_and_only_then(app, client, tmp_path, monkeypatch):
    """The service worker's release names the content of what it precaches: the same between requests, new as
    soon as one of those files changes (the phones then fetch the new shell), the old one again if it is undone."""
    worker = tmp_path / "sw.js"
    worker.write_bytes(pwa.SW_SOURCE.read_bytes())
    monkeypatch.setattr(pwa, "SW_SOURCE", worker)
    with app.test_request_context():
        first = pwa.release_id()
    assert len(first) == 12 and int(first, 16) >= 0
    served = [json.loads(_config_of(client.get("/sw.js").get_data(as_text=True)))["release"] for _ in range(2)]
    assert served == [first, first]
    original, stat = worker.read_bytes(), worker.stat()
    worker.write_bytes(original + b"\n// a new release\n")
    os.utime(worker, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    with app.test_request_context():
        changed = pwa.release_id()
    assert changed != first
    worker.write_bytes(original)
    os.utime(worker, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2 * 10**9))
    with app.test_request_context():
        assert pwa.release_id() == first  # the content decides, not the time the file was written
