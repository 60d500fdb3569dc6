from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import gps_photo_bytes, jpeg_bytes, make_report, make_user, new_report_data
from webapp.db import db, utcnow
from webapp.reports import services
from webapp.reports.models import LocationSource, Report, ReportFollower, ReportPhoto
from webapp.reports.status import ReportStatus

IMAGES = Path(__file__).resolve().parent.parent / "data" / "images"


def files(storage) -> set[str]:  # type: ignore[no-untyped-def]
    return {str(p.relative_to(storage.root)) for p in storage.root.rglob("*.jpg")}


def test_submit_stores_report_photos_and_first_event(ctx, storage):
    user = make_user()
    report, created = services.submit_report(user, new_report_data(), storage=storage)
    assert created and report.id
    assert report.status is ReportStatus.PENDING_REVIEW
    assert [e.to_status for e in report.events] == [ReportStatus.PENDING_REVIEW]
    assert report.events[0].actor_role == "citizen"
    photo = report.photos[0]
    assert storage.exists(photo.display_key) and storage.exists(photo.thumb_key)
    assert photo.width <= 1600 and photo.thumb_width <= 320 and len(photo.phash) == 16


def test_replay_returns_the_stored_report(ctx, storage):
    user = make_user()
    data = new_report_data()
    first, _ = services.submit_report(user, data, storage=storage)
    again, created = services.submit_report(user, new_report_data(client_id=data.client_id), storage=storage)
    assert again is first and created is False
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 1


def test_replay_with_other_content_or_by_someone_else_is_a_conflict(ctx, storage):
    user = make_user()
    data = new_report_data()
    services.submit_report(user, data, storage=storage)
    with pytest.raises(services.IdempotencyConflict):
        services.submit_report(user, new_report_data(client_id=data.client_id, description="x"), storage=storage)
    with pytest.raises(services.IdempotencyConflict):
        services.submit_report(make_user(), new_report_data(client_id=data.client_id), storage=storage)


@pytest.mark.commits  # the conflict must leave the request's own transaction usable, as in production
def test_a_replay_committed_while_the_first_copy_is_being_written_ends_as_a_replay(ctx, storage, monkeypatch):
    user = make_user()
    data = new_report_data()
    first, _ = services.submit_report(user, data, storage=storage)
    db.session.commit()
    # The second copy's check came just before the first copy's commit: it saw nothing and inserts too.
    real, calls = services._existing_for_replay, []

    def late_lookup(*args):  # type: ignore[no-untyped-def]
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    monkeypatch.setattr(services, "_existing_for_replay", late_lookup)
    again, created = services.submit_report(user, new_report_data(client_id=data.client_id), storage=storage)
    assert created is False and again.id == first.id and len(calls) == 2
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 1


def test_the_replay_check_reads_three_columns_and_loads_the_report_only_for_a_replay(ctx, storage):
    user = make_user()
    data = new_report_data()
    first, _ = services.submit_report(user, data, storage=storage)
    db.session.flush()
    first_id = first.id
    db.session.expunge_all()  # a later request: nothing of the first one in the session
    user = db.session.get(type(user), user.id)
    statements: list[str] = []

    def record(*args):  # type: ignore[no-untyped-def]
        statements.append(args[2])

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        assert services._existing_for_replay(user, new_report_data(), "whatever") is None
        assert "categories" not in statements[-1] and "description" not in statements[-1]
        replay = services._existing_for_replay(user, data, services.payload_hash(data))
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    assert isinstance(replay, Report) and replay.id == first_id
    with pytest.raises(services.IdempotencyConflict):
        services._existing_for_replay(user, data, "another fingerprint")


def test_payload_hash_ignores_surrounding_spaces_but_not_photos():
    a = new_report_data(client_id="x", description=" 满了 ")
    b = new_report_data(client_id="x", description="满了")
    c = new_report_data(client_id="x", description="满了", photos=[jpeg_bytes((1, 2, 3))])
    assert services.payload_hash(a) == services.payload_hash(b) != services.payload_hash(c)


def test_location_from_the_first_photos_gps(ctx, storage):
    report, _ = services.submit_report(
        make_user(),
        new_report_data(lat=None, lon=None, address="", location_source=None, photos=[gps_photo_bytes(37.86, 112.55)]),
        storage=storage,
    )
    assert report.location_source is LocationSource.EXIF
    assert (round(report.lat, 4), round(report.lon, 4)) == (37.86, 112.55)
    assert b"ExampleCam" not in storage.open(report.photos[0].display_key)


def test_an_address_alone_is_enough(ctx, storage):
    report, _ = services.submit_report(
        make_user(), new_report_data(lat=None, lon=None, location_source=None), storage=storage
    )
    assert report.location_source is LocationSource.ADDRESS and report.lat is None


def test_no_location_at_all_is_refused(ctx, storage):
    with pytest.raises(services.ReportInvalid) as error:
        services.submit_report(make_user(), new_report_data(lat=None, lon=None, address=" "), storage=storage)
    assert "lat" in error.value.errors


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"category_code": "99999"}, "category"),
        ({"lat": 200.0}, "lat"),
        ({"lon": None}, "lat"),
        ({"description": "x" * 2001}, "description"),
        ({"address": "x" * 201}, "address"),
        ({"photos": []}, "photos"),
        ({"photos": [jpeg_bytes()] * 4}, "photos"),
    ],
)
def test_invalid_fields_are_refused_before_anything_is_written(ctx, storage, overrides, field):
    with pytest.raises(services.ReportInvalid) as error:
        services.submit_report(make_user(), new_report_data(**overrides), storage=storage)
    assert field in error.value.errors
    assert not files(storage)


@pytest.mark.parametrize(
    ("photo", "status", "code"),
    [
        (b"", 422, "photo_empty"),
        (b"not an image", 415, "photo_unsupported"),
        ((IMAGES / "broken.png").read_bytes(), 422, "photo_corrupt"),
        ((IMAGES / "decompression_bomb.gif").read_bytes(), 413, "photo_too_many_pixels"),
    ],
)
def test_bad_photos_are_refused_with_their_status(ctx, storage, photo, status, code):
    with pytest.raises(services.PhotoError) as error:
        services.submit_report(make_user(), new_report_data(photos=[jpeg_bytes(), photo]), storage=storage)
    assert (error.value.status, error.value.code) == (status, code)
    assert "2" in str(error.value.message)  # names the second photo
    assert not files(storage)


def test_files_are_removed_when_the_transaction_rolls_back(ctx, storage):
    services.submit_report(make_user(), new_report_data(), storage=storage)
    assert files(storage)
    db.session.rollback()
    assert not files(storage)


def test_files_shared_with_a_committed_report_survive_a_rollback(ctx, storage):
    photo = jpeg_bytes((10, 20, 30))
    services.submit_report(make_user(), new_report_data(photos=[photo]), storage=storage)
    db.session.commit()
    kept = files(storage)
    services.submit_report(make_user(), new_report_data(photos=[photo, jpeg_bytes((90, 90, 90))]), storage=storage)
    db.session.rollback()
    assert files(storage) == kept


def test_a_wrong_phone_clock_keeps_the_report_and_drops_the_time(ctx, storage):
    report, _ = services.submit_report(
        make_user(), new_report_data(captured_at=utcnow() + timedelta(days=30)), storage=storage
    )
    assert report.captured_at is None
    report, _ = services.submit_report(
        make_user(), new_report_data(captured_at=utcnow() - timedelta(hours=5)), storage=storage
    )
    assert report.captured_at is not None


def test_follow_and_unfollow(ctx, storage):
    reporter, neighbour = make_user(), make_user()
    report = make_report(reporter, storage)
    with pytest.raises(services.CannotFollow):
        services.follow(reporter, report)
    assert services.follow(neighbour, report) is True
    assert services.follow(neighbour, report) is False
    assert services.follower_count(report) == 1 and services.is_following(neighbour, report)
    assert services.followed_by(neighbour) == [report]
    services.unfollow(neighbour, report)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportFollower)) == 0


def test_nearby_open_reports_same_category_within_radius_nearest_first(ctx, storage):
    user = make_user()
    far = make_report(user, storage, lat=37.8620, lon=112.5180)  # about 210 m north
    near = make_report(user, storage, lat=37.8602, lon=112.5180)  # about 11 m
    nearer = make_report(user, storage, lat=37.86011, lon=112.5180)
    make_report(user, storage, category_code="01037", lat=37.8601, lon=112.5180)  # other category
    make_report(user, storage, lat=None, lon=None)  # address only
    closed = make_report(user, storage, lat=37.8601, lon=112.5181)
    closed.status = ReportStatus.CLOSED
    db.session.flush()
    found = services.nearby_open_reports("06042", 37.8601, 112.5180, user, radius_m=200)
    assert [n.report for n in found] == [nearer, near]
    assert found[0].distance_m < found[1].distance_m < 200
    assert far not in [n.report for n in services.nearby_open_reports("06042", 37.8601, 112.5180, user, radius_m=200)]
    assert len(services.nearby_open_reports("06042", 37.8601, 112.5180, user, radius_m=300, limit=1)) == 1
    assert services.nearby_open_reports("06042", 200.0, 112.5, user, radius_m=200) == []


def test_public_reports_filters_and_pages(ctx, storage):
    user = make_user()
    rubbish = [make_report(user, storage) for _ in range(3)]
    light = make_report(user, storage, category_code="01037")
    rubbish[0].status = ReportStatus.CLOSED
    db.session.flush()
    assert services.public_reports(group="B").items == [light]
    assert services.public_reports(category="06042").total == 3
    assert services.public_reports(status="closed").items == [rubbish[0]]
    assert services.public_reports(status="open").total == 3
    assert services.public_reports(status="pending_review").total == 3
    page = services.public_reports(per_page=2, page=2)
    assert page.total == 4 and page.pages == 2 and page.has_prev and not page.has_next and len(page.items) == 2
    assert services.public_reports(page=0).page == 1


def test_reports_by_is_newest_first_and_only_mine(ctx, storage):
    me, other = make_user(), make_user()
    first = make_report(me, storage)
    second = make_report(me, storage)
    make_report(other, storage)
    second.created_at = first.created_at + timedelta(seconds=1)
    db.session.flush()
    assert services.reports_by(me) == [second, first]


def test_photos_rows_match_processed_photos(ctx, storage):
    report = make_report(make_user(), storage, photos=[jpeg_bytes(), jpeg_bytes((0, 0, 200), (400, 900))])
    rows = db.session.scalars(sa.select(ReportPhoto).order_by(ReportPhoto.position)).all()
    assert [r.position for r in rows] == [0, 1]
    assert rows[1].height > rows[1].width  # portrait stays portrait
    assert report.photos == list(rows)


def test_nearby_orders_places_hidden_from_the_viewer_by_newest_not_by_distance(ctx, storage):
    reporter = make_user()
    nearest = make_report(reporter, storage, lat=37.86012, lon=112.5180)  # about 2 m, older
    further = make_report(reporter, storage, lat=37.8608, lon=112.5180)  # about 78 m, newer, same cell
    public = make_report(reporter, storage, lat=37.8603, lon=112.5180)
    public.status = ReportStatus.ACCEPTED
    db.session.flush()
    mine = services.nearby_open_reports("06042", 37.8601, 112.5180, reporter, radius_m=200)
    assert [n.report for n in mine] == [nearest, public, further]
    theirs = services.nearby_open_reports("06042", 37.8601, 112.5180, None, radius_m=200)
    assert [n.report for n in theirs] == [public, further, nearest]
    assert [n.distance_m is None for n in theirs] == [False, True, True]
    assert theirs[1].within_m == theirs[2].within_m > 0
