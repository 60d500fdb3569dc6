"""webapp.reports.privacy.view: what each viewer may see of a report."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from webapp.reports import privacy
from webapp.reports.status import ReportStatus

NOISE, RUBBISH = "06028", "06042"


def report(category: str = RUBBISH, status: ReportStatus = ReportStatus.ACCEPTED, reporter_id: int = 1):
    return SimpleNamespace(
        category_code=category,
        status=status,
        reporter_id=reporter_id,
        lat=37.861234,
        lon=112.512345,
        address="兴华街 12 号 电话13912345678",
        description="灯不亮 电话 139-1234-5678 身份证 14010919800101123X",
    )


def user(user_id: int, staff: bool = False):
    return SimpleNamespace(id=user_id, is_authenticated=True, role=SimpleNamespace(is_staff=staff))


def test_masking_numbers():
    assert privacy.mask_numbers("电话13912345678，身份证 14010919800101123x") == "电话***，身份证 ***"
    assert privacy.mask_numbers("139 1234 5678 / 0351-1234567") == "*** / ***"
    assert privacy.mask_numbers("12 号 3 单元 502 室") == "12 号 3 单元 502 室"


def test_an_accepted_ordinary_report_is_public_with_numbers_masked():
    seen = privacy.view(report(), None)
    assert seen.full and seen.photos and not seen.privileged and seen.reason == ""
    assert seen.description == "灯不亮 电话 *** 身份证 ***" and seen.address == "兴华街 12 号 电话***"
    assert (seen.lat, seen.lon) == (37.86123, 112.51234)
    assert seen.note("电话 13912345678") == "电话 ***"


@pytest.mark.parametrize(
    ("category", "status", "reason"),
    [
        (NOISE, ReportStatus.ACCEPTED, "sensitive"),
        (NOISE, ReportStatus.CLOSED, "sensitive"),
        (RUBBISH, ReportStatus.PENDING_REVIEW, "unreviewed"),
        (RUBBISH, ReportStatus.REJECTED, "unreviewed"),
    ],
)
def test_others_see_category_status_and_a_coarse_place(category, status, reason):
    for viewer in (None, user(2), SimpleNamespace(is_authenticated=False)):
        seen = privacy.view(report(category, status), viewer)
        assert not seen.full and not seen.photos and seen.coarsened and seen.reason == reason
        assert seen.description == "" and seen.address == "" and seen.note("楼上 402") == ""
        assert (seen.lat, seen.lon) == privacy.coarsen(37.861234, 112.512345)
        assert privacy.photo_access(report(category, status), viewer) is None


@pytest.mark.parametrize("viewer", [user(1), user(9, staff=True)])
def test_the_reporter_and_staff_see_everything_and_photos_privately(viewer):
    sensitive = report(NOISE, ReportStatus.PENDING_REVIEW)
    seen = privacy.view(sensitive, viewer)
    assert seen.privileged and seen.full and seen.description.endswith("14010919800101123X")
    assert seen.lat == 37.861234 and seen.note("电话 13912345678") == "电话 13912345678"
    assert privacy.photo_access(sensitive, viewer) == "private"
    assert privacy.photo_access(report(), viewer) == "public"


def test_sensitive_is_one_question():
    assert privacy.is_sensitive(NOISE) and not privacy.is_sensitive(RUBBISH) and not privacy.is_sensitive(None)
    assert NOISE in privacy.sensitive_categories()
    assert not privacy.is_published(RUBBISH, ReportStatus.PENDING_REVIEW)
    assert privacy.is_published(RUBBISH, "closed") and not privacy.is_published(NOISE, "closed")


def placed(category: str, status: ReportStatus, lat: float, lon: float):
    return SimpleNamespace(**{**vars(report(category, status)), "lat": lat, "lon": lon})


PROBES = [(37.861234 + dy * 0.0004, 112.512345 + dx * 0.0005) for dy in range(-6, 7) for dx in range(-6, 7)]


@pytest.mark.parametrize(
    ("category", "status"), [(NOISE, ReportStatus.ACCEPTED), (RUBBISH, ReportStatus.PENDING_REVIEW)]
)
def test_distance_to_a_hidden_place_depends_only_on_its_public_cell(category, status):
    # Two places about 150 m apart in the same cell: from any probe, no answer may tell them apart.
    first, second = placed(category, status, 37.861234, 112.512345), placed(category, status, 37.8626, 112.5120)
    assert privacy.coarsen(first.lat, first.lon) == privacy.coarsen(second.lat, second.lon)
    listed = 0
    for viewer in (None, user(2)):
        for lat, lon in PROBES:
            answer = privacy.distance_seen(first, viewer, lat, lon, 200)
            assert answer == privacy.distance_seen(second, viewer, lat, lon, 200)
            if answer is not None:
                listed += 1
                assert answer.metres is None and answer.within_m in (500, 1000)
    assert listed  # the duplicate check still lists it
    # Never missed when the real place is within the radius: listed from right next to it, bound still coarse.
    assert privacy.distance_seen(second, None, 37.86261, 112.5120, 200) == privacy.SeenDistance(None, 500)


@pytest.mark.parametrize("viewer", [user(1), user(9, staff=True)])
def test_the_reporter_and_staff_get_the_exact_distance_to_a_hidden_place(viewer):
    hidden = report(NOISE, ReportStatus.PENDING_REVIEW)
    near = privacy.distance_seen(hidden, viewer, 37.86124, 112.51235, 200)
    nearer = privacy.distance_seen(hidden, viewer, 37.861234, 112.51235, 200)
    assert near is not None and nearer is not None and nearer.metres < near.metres < 2
    assert privacy.distance_seen(hidden, viewer, 37.8640, 112.51235, 200) is None  # about 310 m


def test_the_public_gets_the_exact_distance_to_a_published_place():
    seen = privacy.distance_seen(report(), None, 37.86133, 112.51234, 200)
    assert seen is not None and seen.within_m == 0 and 10 < seen.metres < 12
    assert privacy.distance_seen(report(), None, 37.8640, 112.51234, 200) is None
