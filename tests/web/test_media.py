"""Serving stored photos: public ones (accepted, not sensitive) may be cached for a year and, on object storage,
are redirected to a presigned URL; every other photo is streamed through the app after the permission check and
never gets a URL that works without it. Each test runs on the local disk and on a real S3-compatible server."""

from __future__ import annotations

import urllib.request

import pytest

from tests.factories import jpeg_bytes, make_report, make_user
from tests.helpers import login
from webapp import content_security_policy
from webapp.accounts.models import Role
from webapp.db import db
from webapp.feedback.platform import services as platform
from webapp.reports.models import Report
from webapp.reports.status import ReportStatus

NOISE = "06028"  # 噪声扰民: a sensitive category
BINS = "06042"


@pytest.fixture(params=["local", "s3"])
def served(request, app):  # type: ignore[no-untyped-def]
    """The app with its photos on local disk, then in an S3 bucket."""
    if request.param == "s3":
        request.getfixturevalue("s3_app")
    return request.param


def report_with_photo(app, *, category=BINS, status=ReportStatus.ACCEPTED, reporter=None):  # type: ignore[no-untyped-def]
    with app.app_context():
        report = make_report(reporter, category_code=category, photos=[jpeg_bytes(size=(640, 480))])
        report.status = status
        db.session.commit()
        photo = report.photos[0]
        return report.id, photo.display_key, photo.thumb_key


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.read()


def test_a_public_photo_is_cached_for_a_year_or_redirected_to_the_object_store(app, client, served):
    _id, key, thumb = report_with_photo(app)
    stored = app.extensions["storage"].open(key)
    response = client.get(f"/media/{key}")
    if served == "local":
        assert response.status_code == 200 and response.mimetype == "image/jpeg"
        assert response.data == stored and response.content_length == len(stored)
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        etag = response.headers["ETag"]
        assert client.get(f"/media/{key}", headers={"If-None-Match": etag}).status_code == 304
    else:
        assert response.status_code == 302
        location = response.headers["Location"]
        assert location.startswith(app.extensions["storage"].public_origin()) and "X-Amz-Signature" in location
        assert "public" in response.headers["Cache-Control"]
        assert fetch(location) == stored  # the object store serves the bytes, no app worker does
        assert client.get(f"/media/{thumb}").status_code == 302


def test_photos_of_an_unreviewed_report_are_streamed_never_public(app, client, served):
    with app.app_context():
        reporter = make_user()
        db.session.commit()
    _id, key, _thumb = report_with_photo(app, status=ReportStatus.PENDING_REVIEW, reporter=reporter)
    assert client.get(f"/media/{key}").status_code == 404  # the public sees it once the review team accepted it
    login(client, reporter)
    response = client.get(f"/media/{key}")
    assert response.status_code == 200  # shown to its reporter (and staff), through the app
    assert response.headers["Cache-Control"].startswith("private") and "Cookie" in response.headers["Vary"]
    assert response.data == app.extensions["storage"].open(key)


@pytest.mark.parametrize("viewer", [None, Role.CITIZEN])
def test_photos_of_a_sensitive_report_are_not_found_for_others(app, client, served, viewer):
    _id, key, thumb = report_with_photo(app, category=NOISE)
    if viewer:
        with app.app_context():
            stranger = make_user(viewer)
            db.session.commit()
        login(client, stranger)
    assert client.get(f"/media/{key}").status_code == 404
    assert client.get(f"/media/{thumb}").status_code == 404


@pytest.mark.parametrize("who", ["reporter", Role.REVIEWER, Role.ADMIN])
def test_photos_of_a_sensitive_report_are_streamed_to_its_reporter_and_staff(app, client, served, who):
    with app.app_context():
        reporter = make_user()
        staff = make_user(who) if who != "reporter" else None
        db.session.commit()
    _id, key, _thumb = report_with_photo(app, category=NOISE, reporter=reporter)
    login(client, staff or reporter)
    response = client.get(f"/media/{key}")
    assert response.status_code == 200 and response.headers["Cache-Control"].startswith("private")
    assert response.data == app.extensions["storage"].open(key)


def test_the_most_open_report_decides_for_a_shared_file(app, client, served):
    # The same picture sent twice: once as a sensitive report, once as an accepted public one.
    _id, key, _thumb = report_with_photo(app, category=NOISE)
    _other, same_key, _ = report_with_photo(app, category=BINS)
    assert key == same_key
    assert client.get(f"/media/{key}").status_code in {200, 302}


def test_a_report_becomes_public_once_accepted(app, client, served):
    report_id, key, _thumb = report_with_photo(app, status=ReportStatus.PENDING_REVIEW)
    assert client.get(f"/media/{key}").status_code == 404
    with app.app_context():
        db.session.get(Report, report_id).status = ReportStatus.ACCEPTED
        db.session.commit()
    response = client.get(f"/media/{key}")
    assert response.status_code in {200, 302} and response.headers["Cache-Control"].startswith("public")


def test_unknown_and_unowned_files_are_not_found(app, client, served):
    storage = app.extensions["storage"]
    storage.put("aa/bb/" + "a" * 64 + ".jpg", b"belongs to nothing")
    assert client.get("/media/aa/bb/" + "a" * 64 + ".jpg").status_code == 404
    assert client.get("/media/" + "b" * 64 + ".jpg").status_code == 404
    assert client.get("/media/../../etc/passwd.jpg").status_code == 404
    assert client.get("/media/anything.png").status_code == 404


def test_a_feedback_screenshot_is_streamed_to_admins_only(app, client, served):
    with app.app_context():
        feedback, _created = platform.submit(
            None,
            platform.NewFeedback(
                kind="app_problem", text="截图里有我的手机号", reply_via="none", screenshot=jpeg_bytes()
            ),
            storage=app.extensions["storage"],
        )
        admin = make_user(Role.ADMIN)
        db.session.commit()
        feedback_id, key = feedback.id, feedback.screenshot_key
    assert client.get(f"/media/{key}").status_code == 404
    login(client, admin)
    response = client.get(f"/feedback/{feedback_id}/screenshot/full")
    assert response.status_code == 200 and response.headers["Cache-Control"].startswith("private")
    assert response.data == app.extensions["storage"].open(key)


def test_the_security_policy_allows_images_from_the_object_store(app, s3_storage):
    policy = content_security_policy(app.config, s3_storage)
    assert f"img-src 'self' data: blob: {s3_storage.endpoint_url};" in policy
    local_policy = app.test_client().get("/healthz").headers["Content-Security-Policy"]
    assert "img-src 'self' data: blob:;" in local_policy
