"""QR posters (admin pages, printing, scanning, reports that remember their poster) and link previews of reports."""

from __future__ import annotations

import io
import re
from datetime import date
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
import segno
import sqlalchemy as sa

from tests.factories import jpeg_bytes, make_report, make_user, mark_accepted
from tests.helpers import api_headers, login, post, text
from webapp.accounts.models import Role
from webapp.db import db
from webapp.points.models import Campaign
from webapp.reports.models import Poster, PosterKind, PosterScan, Report
from webapp.reports.posters import services as posters
from webapp.reports.status import ReportStatus


def as_role(app, client, role: Role):  # type: ignore[no-untyped-def]
    with app.app_context():
        user = make_user(role)
        db.session.commit()
    login(client, user)
    return user


@pytest.fixture
def admin(app, client):  # type: ignore[no-untyped-def]
    return as_role(app, client, Role.ADMIN)


def make_poster(app, **overrides) -> Poster:  # type: ignore[no-untyped-def]
    values = {"kind": PosterKind.STREETLIGHT, "label": "LD-0123", "asset_id": "LD-0123", "lat": 37.8601, "lon": 112.518}
    values.update(overrides)
    with app.app_context():
        poster = posters.create_poster(None, posters.NewPoster(**values))
        db.session.commit()
        return poster


def scans_of(app, poster_id: int) -> int:  # type: ignore[no-untyped-def]
    with app.app_context():
        return db.session.scalar(
            sa.select(sa.func.count()).select_from(PosterScan).where(PosterScan.poster_id == poster_id)
        )


def qr_matrix_from_svg(svg: str) -> list[list[bool]]:
    """Read the dark modules back out of segno's SVG path (moves and horizontal runs) as a matrix without the
    quiet zone: a decoder in miniature, good enough to tell which code an SVG draws."""
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    path = re.search(r'<path[^>]* d="([^"]+)"', svg).group(1)
    dark: set[tuple[int, int]] = set()
    x = y = 0.0
    for command, args in re.findall(r"([MmHh])([-\d.\s]+)", path):
        numbers = [float(n) for n in args.split()]
        if command == "M":
            x, y = numbers
        elif command == "m":
            x, y = x + numbers[0], y + numbers[1]
        else:
            length = numbers[0] if command == "h" else numbers[0] - x
            dark.update((int(x) + i, int(y)) for i in range(int(length)))
            x += length
    border = 4
    inner = size - 2 * border
    return [[(col + border, row + border) in dark for col in range(inner)] for row in range(inner)]


# --- Admin pages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.CITIZEN, Role.VOLUNTEER, Role.REVIEWER, Role.DEPARTMENT])
def test_only_admins_may_open_the_poster_pages(app, client, role):
    poster = make_poster(app)
    urls = ["/admin/posters", "/admin/posters/new", f"/admin/posters/{poster.id}/print"]
    for url in urls:
        assert client.get(url).status_code == 302  # anonymous: log in first
    as_role(app, client, role)
    for url in urls:
        assert client.get(url).status_code == 403, url
    assert post(client, "/admin/posters/new", {"kind": "place", "label": "x"}).status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Poster)) == 1


def test_admin_creates_a_poster(app, client, admin):
    assert client.get("/admin/posters/new").status_code == 200
    response = post(
        client,
        "/admin/posters/new",
        {"kind": "streetlight", "label": "LD-0456", "asset_id": "LD-0456", "lat": "37.86", "lon": "112.52"},
    )
    assert response.status_code == 303
    with app.app_context():
        poster = db.session.scalar(sa.select(Poster))
        assert poster.kind is PosterKind.STREETLIGHT and poster.label == "LD-0456" and poster.asset_id == "LD-0456"
        assert (poster.lat, poster.lon) == (37.86, 112.52) and poster.created_by_id == admin.id
        assert re.fullmatch(f"[{posters.CODE_ALPHABET}]{{{posters.CODE_LENGTH}}}", poster.code)
        assert response.headers["Location"].endswith(f"/admin/posters/{poster.id}/print")
    listed = client.get("/admin/posters")
    assert listed.status_code == 200 and "LD-0456" in text(listed)


def test_poster_codes_are_unique_and_random(app):
    codes = {make_poster(app, label=f"P{n}", asset_id=f"LD-{n:04d}").code for n in range(20)}
    assert len(codes) == 20


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "place", "label": ""}, "label"),
        ({"kind": "place", "label": "x" * 81}, "label"),
        ({"kind": "place", "label": "站", "lat": "37.86"}, "lat"),  # no longitude
        ({"kind": "place", "label": "站", "lat": "95", "lon": "112"}, "lat"),
        ({"kind": "grid", "label": "第一网格"}, "grid_code"),
        ({"kind": "place", "label": "站", "grid_code": "999999999999999"}, "grid_code"),
        ({"kind": "campaign", "label": "专项整治"}, "campaign_id"),
        ({"kind": "mars", "label": "站"}, "kind"),
    ],
)
def test_bad_poster_forms_are_refused(app, client, admin, fields, field):
    response = post(client, "/admin/posters/new", fields)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Poster)) == 0


def test_campaign_poster(app, client, admin):
    with app.app_context():
        campaign = Campaign(name="井盖专项整治", starts_on=date(2026, 1, 1), ends_on=date(2026, 12, 31))
        db.session.add(campaign)
        db.session.commit()
        campaign_id = campaign.id
    form = client.get("/admin/posters/new").get_data(as_text=True)
    assert "井盖专项整治" in form
    response = post(client, "/admin/posters/new", {"kind": "campaign", "label": "井盖整治", "campaign_id": campaign_id})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalar(sa.select(Poster)).campaign_id == campaign_id


# --- Printing -------------------------------------------------------------------------------------------------


def test_printable_poster_has_a_qr_code_of_its_url(app, client, admin):
    poster = make_poster(app, label="LD-0123")
    response = client.get(f"/admin/posters/{poster.id}/print")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    expected_url = f"http://localhost/p/{poster.code}"
    svgs = re.findall(r"<svg.*?</svg>", body, flags=re.S)
    assert len(svgs) == 1
    assert qr_matrix_from_svg(svgs[0]) == [
        [bool(module) for module in row] for row in segno.make(expected_url, error="h", micro=False).matrix
    ]
    # …and it is exactly what segno draws for that URL (the title, a translated text, aside).
    untitled = re.sub(r"<title>.*?</title>", "", svgs[0])
    assert untitled == segno.make(expected_url, error="h", micro=False).svg_inline(
        scale=1, border=4, omitsize=True, svgclass="qr", lineclass=None
    )
    assert expected_url in re.search(r"<title>(.*?)</title>", svgs[0]).group(1)
    page = text(response)
    assert "扫码上报问题 / Scan to report a problem" in page
    assert "LD-0123" in page and f"localhost/p/{poster.code}" in page
    assert "size: A4 portrait" in body
    nonce = re.search(r'<style nonce="([^"]+)">', body).group(1)
    assert f"'nonce-{nonce}'" in response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_sticker_variant(app, client, admin):
    poster = make_poster(app, label="千峰南路公交站", kind=PosterKind.PLACE, asset_id="")
    response = client.get(f"/admin/posters/{poster.id}/print?size=sticker")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "size: 70mm 90mm" in body and "size: A4" not in body
    assert "千峰南路公交站" in text(response) and "<svg" in body
    assert "size: A4" in client.get(f"/admin/posters/{poster.id}/print?size=huge").get_data(as_text=True)
    assert client.get("/admin/posters/999999/print").status_code == 404


def test_the_qr_code_scans_back_to_the_url():
    url = "https://grid.example.cn/p/abcd2345"
    assert qr_matrix_from_svg(posters.qr_svg(url)) == [
        [bool(m) for m in row] for row in segno.make(url, error="h", micro=False).matrix
    ]
    assert qr_matrix_from_svg(posters.qr_svg(url)) != qr_matrix_from_svg(posters.qr_svg(url + "x"))


# --- Scanning -------------------------------------------------------------------------------------------------


def test_a_scan_is_counted_and_opens_the_report_form(app, client):
    poster = make_poster(app)
    response = client.get(f"/p/{poster.code}")
    assert response.status_code == 302
    assert response.headers["Cache-Control"] == "no-store"
    location = urlsplit(response.headers["Location"])
    assert location.path == "/reports/new"
    assert parse_qs(location.query) == {
        "poster": [poster.code],
        "lat": ["37.860100"],
        "lon": ["112.518000"],
        "asset": ["LD-0123"],
        "category": ["01037"],  # a street light's poster: the street-light category is chosen
    }
    assert scans_of(app, poster.id) == 1
    form = client.get(response.headers["Location"])
    body = form.get_data(as_text=True)
    assert f'name="poster" value="{poster.code}"' in body
    assert 'name="lat" value="37.860100"' in body and 'name="location_source" value="map"' in body
    assert "LD-0123" in text(form)


PHONE_BROWSER = (
    "Mozilla/5.0 (Linux; Android 13; V2217A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36"
)


def test_a_scan_counts_once_per_visit(app, client):
    """The same phone scanning again (or reloading) within 30 minutes is one scan; another phone is another."""
    poster = make_poster(app)
    first = client.get(f"/p/{poster.code}", headers={"User-Agent": PHONE_BROWSER})
    cookie = first.headers["Set-Cookie"]
    assert f"cg_scan_{poster.code}=1" in cookie and f"Path=/p/{poster.code}" in cookie
    assert "Max-Age=1800" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    again = client.get(f"/p/{poster.code}", headers={"User-Agent": PHONE_BROWSER})
    assert again.status_code == 302 and again.headers["Location"] == first.headers["Location"]
    assert "Set-Cookie" not in again.headers
    assert scans_of(app, poster.id) == 1
    app.test_client().get(f"/p/{poster.code}", headers={"User-Agent": PHONE_BROWSER})
    assert scans_of(app, poster.id) == 2
    # The visit is per poster: scanning another poster counts there.
    other = make_poster(app, label="LD-0124", asset_id="LD-0124")
    client.get(f"/p/{other.code}", headers={"User-Agent": PHONE_BROWSER})
    assert scans_of(app, other.id) == 1


@pytest.mark.parametrize(
    "headers",
    [
        {"User-Agent": "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"},
        {"User-Agent": "WhatsApp/2.23.20.0"},
        {"User-Agent": "TelegramBot (like TwitterBot)"},
        {"User-Agent": "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"},
        {"User-Agent": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)"},
        {"User-Agent": "curl/8.5.0"},
        {"User-Agent": "python-requests/2.32.3"},
        {"User-Agent": ""},
        {"User-Agent": PHONE_BROWSER, "Sec-Purpose": "prefetch;prerender"},
        {"User-Agent": PHONE_BROWSER, "Purpose": "prefetch"},
        {"User-Agent": PHONE_BROWSER, "X-Moz": "prefetch"},
    ],
)
def test_bots_and_prefetches_are_not_counted(app, client, headers):
    poster = make_poster(app)
    response = client.get(f"/p/{poster.code}", headers=headers)
    assert response.status_code == 302  # a bot still gets somewhere useful
    assert "Set-Cookie" not in response.headers
    assert scans_of(app, poster.id) == 0


def test_a_head_request_is_not_a_scan(app, client):
    poster = make_poster(app)
    assert client.head(f"/p/{poster.code}", headers={"User-Agent": PHONE_BROWSER}).status_code == 302
    assert scans_of(app, poster.id) == 0


def test_phone_browsers_and_wechat_are_counted(app):
    wechat = PHONE_BROWSER + " MicroMessenger/8.0.47.2560(0x28002F35) WeChat/arm64 NetType/WIFI Language/zh_CN"
    iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
    for agent in (PHONE_BROWSER, wechat, iphone):
        assert not posters.is_automated(agent)
    assert posters.is_automated("Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/120.0 Safari/537.36")


def make_grid(app, code: str = "140109001001001") -> str:  # type: ignore[no-untyped-def]
    from webapp.geo.models import Grid

    with app.app_context():
        db.session.add(
            Grid(
                code=code,
                name="一网格",
                district_code=code[:6],
                district_name="万柏林区",
                street_code=code[:9],
                street_name="千峰街道",
                community_code=code[:12],
                community_name="千峰社区",
                geometry="{}",
                min_lat=0,
                max_lat=0,
                min_lon=0,
                max_lon=0,
            )
        )
        db.session.commit()
    return code


def test_poster_without_a_position_fills_in_its_place_and_grid(app, client):
    """A grid's notice board has no position: the form gets its label as the address, the report its grid."""
    grid = make_grid(app)
    poster = make_poster(
        app, kind=PosterKind.GRID, label="千峰社区公告栏", asset_id="", lat=None, lon=None, grid_code=grid
    )
    location = client.get(f"/p/{poster.code}").headers["Location"]
    assert parse_qs(urlsplit(location).query) == {"poster": [poster.code], "address": ["千峰社区公告栏"]}
    form = client.get(location)
    body = form.get_data(as_text=True)
    assert 'name="address" maxlength="200" value="千峰社区公告栏"' in body
    assert "千峰街道 千峰社区 一网格" in text(form)
    as_role(app, client, Role.CITIZEN)
    data = {
        "category": "06042",
        "address": "千峰社区公告栏",
        "poster": poster.code,
        "photos": [(io.BytesIO(jpeg_bytes()), "photo.jpg", "image/jpeg")],
    }
    assert post(client, "/reports/new", data, content_type="multipart/form-data").status_code == 303
    with app.app_context():
        report = db.session.scalar(sa.select(Report))
        assert report.poster_id == poster.id and report.grid_code == grid and report.lat is None


def test_unknown_poster_is_a_404_page(app, client):
    for code in ("zzzzzzzz", "x" * 40, "LD-0123"):
        response = client.get(f"/p/{code}")
        assert response.status_code == 404
        assert response.content_type.startswith("text/html")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PosterScan)) == 0


def test_a_report_from_the_form_remembers_its_poster(app, client):
    poster = make_poster(app)
    as_role(app, client, Role.CITIZEN)
    client.get(f"/p/{poster.code}")
    data = {
        "category": "01037",
        "lat": "37.860100",
        "lon": "112.518000",
        "location_source": "map",
        "poster": poster.code,
        "description": "路灯不亮",
        "photos": [(io.BytesIO(jpeg_bytes()), "photo.jpg", "image/jpeg")],
    }
    response = post(client, "/reports/new", data, content_type="multipart/form-data")
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    with app.app_context():
        report = db.session.scalar(sa.select(Report))
        assert report.poster_id == poster.id and report.asset_id == "LD-0123"
        assert report.status is ReportStatus.PENDING_REVIEW
    assert client.get("/admin/posters").status_code == 403  # residents never see it
    admin_client = app.test_client()
    as_role(app, admin_client, Role.ADMIN)
    listed = admin_client.get("/admin/posters").get_data(as_text=True)
    row = re.search(rf'<tr data-poster="{poster.code}">.*?</tr>', listed, re.S)
    assert '<td class="scans">1</td>' in row.group(0) and '<td class="reports">1</td>' in row.group(0)


def test_the_api_takes_the_poster_too(app, client):
    poster = make_poster(app)
    as_role(app, client, Role.CITIZEN)
    response = client.post(
        "/api/v1/reports",
        data={
            "client_id": "6f1c1f5e-8f7b-4a8e-9c84-0c9b8f2f1a11",
            "category": "01037",
            "lat": "37.8601",
            "lon": "112.518",
            "poster": poster.code,
            "photos": [(io.BytesIO(jpeg_bytes()), "photo.jpg", "image/jpeg")],
        },
        headers=api_headers(client),
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Report, response.get_json()["id"]).poster_id == poster.id


def test_an_unknown_poster_never_costs_the_report(app, client):
    as_role(app, client, Role.CITIZEN)
    data = {
        "category": "06042",
        "lat": "37.8601",
        "lon": "112.518",
        "poster": "gone1234",
        "photos": [(io.BytesIO(jpeg_bytes()), "photo.jpg", "image/jpeg")],
    }
    assert post(client, "/reports/new", data, content_type="multipart/form-data").status_code == 303
    with app.app_context():
        report = db.session.scalar(sa.select(Report))
        assert report.poster_id is None and report.asset_id is None
    assert 'name="poster" value=""' in client.get("/reports/new?poster=gone1234").get_data(as_text=True)


def test_web_reports_still_need_a_photo(app, client):
    poster = make_poster(app)
    as_role(app, client, Role.CITIZEN)
    data = {"category": "06042", "lat": "37.8601", "lon": "112.518", "poster": poster.code}
    response = post(client, "/reports/new", data, content_type="multipart/form-data")
    assert response.status_code == 422
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Report)) == 0


# --- Sharing: link previews of a report page -----------------------------------------------------------------


def meta(body: str, key: str) -> str | None:
    found = re.search(rf'<meta (?:property|name)="{re.escape(key)}" content="([^"]*)">', body)
    return unescape(found.group(1)) if found else None


def test_report_page_has_open_graph_and_twitter_tags(app, client):
    with app.test_request_context():
        reporter = make_user(name="王阿姨", public=False)
        reporter.phone = "13912340000"
        report = make_report(reporter, address="千峰南路 长风西大街 路口", description="私人信息 13912340000")
        db.session.commit()
        report_id, key, width = report.id, report.photos[0].display_key, report.photos[0].width
    # Waiting for review: the preview shows the category and status only (webapp/reports/privacy.py).
    head = client.get(f"/reports/{report_id}").get_data(as_text=True).split("</head>")[0]
    assert meta(head, "og:description") == "待审核" and "og:image" not in head and key not in head
    with app.app_context():
        mark_accepted(report_id)
    body = client.get(f"/reports/{report_id}").get_data(as_text=True)
    head = body.split("</head>")[0]
    assert meta(head, "og:title") == f"垃圾站（箱）满溢 #{report_id}"
    assert meta(head, "og:description") == "已立案 · 千峰南路 长风西大街 路口"
    assert meta(head, "og:url") == f"http://localhost/reports/{report_id}"
    assert f'<link rel="canonical" href="http://localhost/reports/{report_id}">' in head
    assert meta(head, "og:image") == f"http://localhost/media/{key}"
    assert meta(head, "og:image:width") == str(width)
    assert meta(head, "twitter:card") == "summary_large_image"
    assert meta(head, "twitter:image") == f"http://localhost/media/{key}"
    assert meta(head, "og:type") == "article"
    for private in ("王阿姨", "13912340000", "私人信息"):
        assert private not in head
    client.set_cookie("lang", "en")
    english = client.get(f"/reports/{report_id}").get_data(as_text=True)
    assert meta(english, "og:title") == f"Overflowing bin or refuse station #{report_id}"
    assert meta(english, "og:description") == "Case opened · 千峰南路 长风西大街 路口"


def test_report_without_photo_shares_a_summary_card(app, client):
    with app.test_request_context():
        report = make_report(photos=[jpeg_bytes()], address="")
        db.session.query(Report).filter_by(id=report.id).one().photos.clear()
        db.session.commit()
        report_id = report.id
    head = client.get(f"/reports/{report_id}").get_data(as_text=True).split("</head>")[0]
    assert meta(head, "og:image") is None and meta(head, "twitter:card") == "summary"
    assert meta(head, "og:description") == "待审核"


def test_control_characters_are_refused_never_a_500(app, client, admin):
    """PostgreSQL refuses NUL in text: junk in a poster's fields or its URL is a clear 4xx on every database."""
    for fields in (
        {"kind": "place", "label": "LD\x00-1"},
        {"kind": "place", "label": "LD-1", "asset_id": "A\x01"},
        {"kind": "place", "label": "LD-1", "grid_code": "1\x00"},
    ):
        response = post(client, "/admin/posters/new", fields)
        assert response.status_code in (400, 422), fields  # NUL anywhere is refused app-wide with 400
    assert client.get("/p/ab%00cd").status_code in (400, 404)
    assert client.get("/reports/new?poster=%00").status_code == 400
    assert 'name="poster" value=""' in client.get("/reports/new?poster=%01").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Poster)) == 0
