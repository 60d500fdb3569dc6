from __future__ import annotations

import json
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


def test_release_id_is_stable_between_requests(app):
    with app.test_request_context():
        assert pwa.release_id() == pwa.release_id()
