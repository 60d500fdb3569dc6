"""The in-process copies of static data (webapp.cache): versioned in the database so that several processes
agree, invalidated by the services that change the data, read with at most one query per request; and public
figures kept for a short time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from tests.factories import make_report, make_user
from tests.helpers import count_queries
from webapp import cache
from webapp.accounts.models import Role
from webapp.campaigns import services as campaign_pages
from webapp.db import db, utcnow
from webapp.localtime import local_date
from webapp.opendata import services as opendata
from webapp.points import rules
from webapp.points.campaigns import create_campaign
from webapp.reports import taxonomy
from webapp.reports.models import Category

pytestmark = pytest.mark.commits  # counts the statements of a request: the test transaction would add SAVEPOINTs


class Process:
    """The memory of one app process (its copies and figures) on the shared test database: another gunicorn
    worker or another server. ``with process.request():`` runs one request in it."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.memory: dict[str, Any] = {"static_cache": {}, "figure_cache": {}, "static_cache_versions": None}

    @contextmanager
    def request(self) -> Iterator[None]:
        saved = {name: self.app.extensions.get(name) for name in self.memory}
        self.app.extensions.update(self.memory)
        try:
            with self.app.test_request_context():
                yield
        finally:
            self.memory = {name: self.app.extensions.get(name) for name in self.memory}
            for name, value in saved.items():
                if value is None:
                    self.app.extensions.pop(name, None)
                else:
                    self.app.extensions[name] = value


@pytest.fixture
def other_process(app: Flask) -> Process:
    return Process(app)


def _publish_campaign(name: str = "垃圾满溢专项整治") -> int:
    admin = make_user(Role.ADMIN)
    today = local_date(utcnow())
    campaign = create_campaign(
        admin,
        name=name,
        categories="06042",
        starts_on=today,
        ends_on=today + timedelta(days=7),
        multiplier=2,
        budget_points=100,
    )
    campaign_pages.set_published(admin, campaign, True)
    return campaign.id


def test_a_change_committed_in_one_process_reaches_the_other_on_its_next_request(app, other_process):
    with other_process.request():
        assert campaign_pages.current_public() == []  # the other process keeps an (empty) copy
    with app.test_request_context():
        campaign_id = _publish_campaign()
        db.session.commit()
    with other_process.request():
        assert [c.id for c in campaign_pages.current_public()] == [campaign_id]


def test_other_processes_check_the_versions_at_most_once_a_second(app, other_process, monkeypatch):
    clock = [5000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    monkeypatch.setitem(app.config, "STATIC_CACHE_CHECK_SECONDS", 1.0)
    with other_process.request():
        assert campaign_pages.current_public() == []
    with app.test_request_context():
        campaign_id = _publish_campaign()
        db.session.commit()
        assert [c.id for c in campaign_pages.current_public()] == [campaign_id]  # this process: at once
    clock[0] += 0.5
    with other_process.request(), count_queries() as statements:
        assert campaign_pages.current_public() == []  # checked half a second ago
    assert statements == []
    clock[0] += 0.6
    with other_process.request():
        assert [c.id for c in campaign_pages.current_public()] == [campaign_id]


def test_the_copy_is_kept_between_requests_until_the_version_moves(app):
    with app.test_request_context():
        first = taxonomy.taxonomy()
    with app.test_request_context():
        assert taxonomy.taxonomy() is first  # no reload
    with app.test_request_context():
        taxonomy.sync_categories()  # an upgrade reloads the category data
        db.session.commit()
    with app.test_request_context():
        assert taxonomy.taxonomy() is not first


def test_a_rolled_back_change_leaves_every_copy_as_it_was(app, other_process):
    with other_process.request():
        assert campaign_pages.current_public() == []
    with app.test_request_context():
        _publish_campaign()
        assert len(campaign_pages.current_public()) == 1  # the changing request sees its own change
        db.session.rollback()
    with app.test_request_context():
        assert campaign_pages.current_public() == []
    with other_process.request():
        assert campaign_pages.current_public() == []


def test_versions_are_read_once_per_request_however_many_copies_it_reads(app):
    with app.test_request_context():
        taxonomy.groups()  # warm every copy
        campaign_pages.current_public()
        rules.effective()
    with app.test_request_context(), count_queries() as statements:
        taxonomy.groups()
        taxonomy.category_info("06042")
        campaign_pages.current_public()
        rules.effective()
        taxonomy.search("垃圾")
    assert len(statements) == 1 and "cache_versions" in statements[0]


def test_new_rules_apply_in_every_process_once_committed(app, other_process):
    admin_id = None
    with other_process.request():
        assert rules.effective()["report_points"] == 5
    with app.test_request_context():
        admin = make_user(Role.ADMIN)
        admin_id = admin.id
        rules.publish({**rules.effective().settings, "report_points": 7}, effective_from=utcnow(), admin=admin)
        db.session.commit()
    with other_process.request():
        assert rules.effective()["report_points"] == 7
        assert rules.effective(utcnow() - timedelta(days=1))["report_points"] == 5  # the past keeps its version
    assert admin_id is not None


def test_categories_for_pages_are_plain_data_and_services_still_get_rows(ctx):
    info = taxonomy.category_info("06042")
    assert info is not None and info.active and info.group.code == info.group_code
    assert not isinstance(info, Category)
    row = taxonomy.get_category("06042")
    assert isinstance(row, Category) and row in db.session
    assert taxonomy.active_category("99999") is None and taxonomy.get_category("99999") is None


def test_a_category_retired_in_the_database_is_refused_even_before_the_copy_reloads(ctx):
    taxonomy.groups()
    db.session.get(Category, "06042").active = False
    db.session.flush()
    assert taxonomy.get_category("06042") is None  # services check the row itself
    db.session.rollback()


def test_public_figures_are_kept_for_a_while_then_computed_again(app, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    calls = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    with app.test_request_context():
        assert cache.remember("figure", 60, "key", compute) == 1
        assert cache.remember("figure", 60, "key", compute) == 1
        assert cache.remember("figure", 60, "other key", compute) == 2
        clock[0] += 61
        assert cache.remember("figure", 60, "key", compute) == 3


def test_a_report_written_in_this_process_forgets_the_figures_at_once(app):
    with app.test_request_context():
        assert cache.remember("figure", 60, "key", lambda: "old rows") == "old rows"
        make_report()
        db.session.commit()
        assert cache.remember("figure", 60, "key", lambda: "new rows") == "new rows"


def test_the_open_data_month_is_kept_through_writes_until_its_time_is_up(app, monkeypatch):
    """Under a steady flow of reports, every report written would otherwise recount the month (220 ms at 100,000
    reports); the page says how often it is counted."""
    clock = [1000.0]
    monkeypatch.setattr(cache.time, "monotonic", lambda: clock[0])
    with app.test_request_context():
        before = opendata.headline()
        make_report()
        db.session.commit()
        assert opendata.headline().received == before.received  # kept
        clock[0] += opendata.HEADLINE_SECONDS + 1
        assert opendata.headline().received == before.received + 1


def test_a_figure_kept_through_writes_is_still_forgotten_by_changed_static_data(app):
    with app.test_request_context():
        assert cache.remember("month", 60, "key", lambda: "old", through_writes=True) == "old"
        make_report()
        assert cache.remember("month", 60, "key", lambda: "again", through_writes=True) == "old"
        _publish_campaign()  # bumps the campaigns' counter: names shown with the figure may have changed
        db.session.commit()
    with app.test_request_context():
        assert cache.remember("month", 60, "key", lambda: "new", through_writes=True) == "new"
        cache.forget_figures()  # what the benches do for a cold request
        assert cache.remember("month", 60, "key", lambda: "newer", through_writes=True) == "newer"


def test_the_figure_store_stays_bounded(app, monkeypatch):
    monkeypatch.setattr(cache, "FIGURES_MAX", 10)
    with app.test_request_context():
        for key in range(25):
            cache.remember("figure", 60, key, lambda: 0)
        assert len(app.extensions["figure_cache"]) <= 10


def test_the_version_counter_row_is_created_when_missing(ctx):
    db.session.execute(sa.delete(cache.CacheVersion))
    cache.bump("campaigns")
    cache.bump("campaigns")
    assert db.session.get(cache.CacheVersion, "campaigns").version == 2


# --- Copies bumped by a flush of their rows (cache.bump_on_flush): grids, departments, the working calendar --------


def test_a_flushed_department_grid_or_calendar_day_moves_its_copy_in_every_process(app, other_process):
    from datetime import date

    from tests.unit.cases import make_department, make_grid
    from webapp.analytics import queries
    from webapp.review import services as review
    from webapp.review.models import CalendarDay

    holiday = date(2031, 10, 1)
    with other_process.request():
        before = (queries.departments(), queries.places(), review.working_calendar())
        assert holiday not in before[2].holidays
    with app.test_request_context():
        department = make_department("HW9", name="环卫九所")
        make_grid("140109009001001")
        db.session.add(CalendarDay(day=holiday, is_workday=False, name="国庆节"))
        db.session.flush()
        assert "HW9" in [d.code for d in queries.departments()]  # this request sees its own change at once
        db.session.commit()
        department_id = department.id
    with other_process.request():
        assert [d.code for d in queries.departments()] == [d.code for d in before[0]] + ["HW9"]
        assert "140109009" in dict(queries.places()[1])
        assert holiday in review.working_calendar().holidays
    with app.test_request_context():
        db.session.get(type(department), department_id).active = False  # a change, not only a new row
        db.session.commit()
    with other_process.request():
        assert "HW9" not in [d.code for d in queries.departments()]


def test_a_rolled_back_department_leaves_the_copy_and_other_flushes_do_not_move_it(app, other_process):
    from tests.unit.cases import make_department
    from webapp.analytics import queries

    with other_process.request():
        first = queries.departments()
    with app.test_request_context():
        version = db.session.get(cache.CacheVersion, "departments")
        version = version.version if version is not None else 0
        make_department("RB1")
        assert "RB1" in [d.code for d in queries.departments()]
        db.session.rollback()
        make_user()  # another kind of row
        db.session.commit()
        now = db.session.get(cache.CacheVersion, "departments")
        assert (now.version if now is not None else 0) == version
    with other_process.request():
        assert queries.departments() is first  # kept: nothing it is made of changed
    with app.test_request_context():
        assert "RB1" not in [d.code for d in queries.departments()]


def test_the_emergency_banner_follows_commits_in_other_processes_and_only_emergencies_move_it(app, other_process):
    from tests.unit.cases import make_case, make_department, make_staff
    from webapp.reports.status import ReportStatus
    from webapp.review import emergency

    with app.test_request_context():
        department = make_department()
        reviewer, head = make_staff(Role.REVIEWER), make_staff(Role.DEPARTMENT, department, head=True)
        ours = make_case(emergency=True, status=ReportStatus.DISPATCHED, department_id=department.id)
        unassigned = make_case(emergency=True)
        db.session.commit()
        ids = reviewer.id, head.id, ours.id, unassigned.id

    def banner(user_id: int) -> list[int]:
        return [b.id for b in emergency.unacknowledged(db.session.get(type(reviewer), user_id))]

    with other_process.request():
        assert banner(ids[0]) == [ids[2], ids[3]] and banner(ids[1]) == [ids[2]]  # each sees their own
        kept = emergency._open_emergencies()
    with app.test_request_context():
        version = db.session.get(cache.CacheVersion, "emergencies").version
        make_case()  # an ordinary report: the banner's copy stays
        db.session.commit()
        assert db.session.get(cache.CacheVersion, "emergencies").version == version
    with other_process.request():
        assert emergency._open_emergencies() is kept
    with app.test_request_context():
        emergency.acknowledge(db.session.get(type(ours), ids[2]), db.session.get(type(reviewer), ids[1]))
        db.session.commit()
    with other_process.request():
        assert banner(ids[0]) == [ids[3]] and banner(ids[1]) == []
    with app.test_request_context():
        db.session.get(type(ours), ids[3]).status = ReportStatus.REJECTED  # no longer open
        db.session.commit()
    with other_process.request():
        assert banner(ids[0]) == []


def test_figures_computed_after_a_flushed_change_are_not_kept(app):
    """The request's own change may still roll back: what it computed from it is not shown to anyone else."""
    calls = []
    with app.test_request_context():
        make_report()  # flushed, not committed
        assert cache.remember("figure", 60, "key", lambda: calls.append(1) or len(calls)) == 1
        db.session.rollback()
    with app.test_request_context():
        assert cache.remember("figure", 60, "key", lambda: calls.append(1) or len(calls)) == 2


def test_changed_static_data_forgets_the_pages_here_at_once_and_elsewhere_at_the_next_check(app, other_process):
    with other_process.request():
        cache.fragment("piece", 1, lambda: "old", shared_as="public")
    with app.test_request_context():
        cache.fragment("piece", 1, lambda: "old", shared_as="public")
        _publish_campaign()  # bumps the campaigns' counter
        assert cache.fragment("piece", 1, lambda: "new", shared_as="public") == "new"
        db.session.commit()
    with other_process.request():  # TestConfig checks the counters on every request
        assert cache.fragment("piece", 1, lambda: "new", shared_as="public") == "new"


def test_fragments_are_kept_per_viewer_class_and_language_and_never_for_a_viewer_of_no_class(app):
    with app.test_request_context(headers={"Cookie": "lang=en"}):
        assert cache.fragment("piece", 1, lambda: "english", shared_as="public") == "english"
        assert cache.fragment("piece", 1, lambda: "again", shared_as="public") == "english"
        assert cache.fragment("piece", 2, lambda: "other key", shared_as="public") == "other key"
        assert cache.fragment("piece", 1, lambda: "another class", shared_as="staff") == "another class"
        assert cache.fragment("piece", 1, lambda: "never", shared_as=None) is None
    with app.test_request_context(headers={"Cookie": "lang=zh_Hans_CN"}):
        assert cache.fragment("piece", 1, lambda: "中文", shared_as="public") == "中文"


def test_kept_pieces_of_pages_stay_within_their_size_budget(app, monkeypatch):
    monkeypatch.setattr(cache, "FIGURES_MAX_CHARS", 1_000)
    with app.test_request_context():
        for key in range(10):
            cache.fragment("piece", key, lambda: "x" * 300, shared_as="public")
        kept = [value for _, value in app.extensions["figure_cache"].values()]
        assert 0 < sum(map(len, kept)) <= 1_000
        assert app.extensions["figure_chars"] == sum(map(len, kept))


def test_the_commit_forgets_again_what_another_request_kept_meanwhile(app):
    """A threaded worker: one request flushed a report (forgetting), another kept a figure from the old rows
    before the commit; the commit forgets it."""
    with app.test_request_context():
        make_report()
        with app.app_context(), app.test_request_context():  # another request of the same process meanwhile
            assert cache.remember("figure", 60, "key", lambda: "old rows") == "old rows"
            assert ("figure", "key") in app.extensions["figure_cache"]
        db.session.commit()
        assert ("figure", "key") not in app.extensions["figure_cache"]
