"""The deployment files and procedures of README "Running in production": the systemd units are valid, the nginx
site matches the app's limits and TRUSTED_PROXIES, and the documented backup and restore work — pg_dump/pg_restore
of a small database (PostgreSQL) and bringing a deleted photo back from a versioned bucket."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.factories import make_report, make_user
from webapp.config import Config
from webapp.db import db
from webapp.reports.models import Report, ReportPhoto

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("unit", ["citizen-grid-web.service", "citizen-grid-worker.service"])
def test_systemd_units_are_valid(unit, tmp_path):
    # Pointed at this checkout instead of /srv/citizen-grid, so systemd also checks that the commands exist.
    text = (DEPLOY / "systemd" / unit).read_text().replace("/srv/citizen-grid", str(ROOT))
    path = tmp_path / unit
    path.write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", str(path)], capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines() if unit in line or "Failed" in line]
    assert result.returncode == 0 and problems == [], result.stderr
    assert "EnvironmentFile=/etc/citizen-grid/env" in text


def test_the_web_unit_runs_make_serve_and_the_worker_make_worker():
    web = (DEPLOY / "systemd" / "citizen-grid-web.service").read_text()
    worker = (DEPLOY / "systemd" / "citizen-grid-worker.service").read_text()
    assert "gunicorn --config gunicorn.conf.py" in web and "RestartPreventExitStatus=78" in web
    assert "flask --app webapp worker" in worker


def test_the_nginx_site_fits_the_app():
    site = (DEPLOY / "nginx" / "citizen-grid.conf").read_text()
    size = re.search(r"client_max_body_size (\d+)m;", site)
    # Above what the app accepts (so the app answers 413 itself, in the resident's language), which is above the
    # largest form the photo limits allow (tests/unit/test_config.py), and not far above it.
    limit = int(size.group(1)) * 1024 * 1024 if size else 0
    assert Config.MAX_CONTENT_LENGTH < limit <= Config.MAX_CONTENT_LENGTH + 8 * 1024 * 1024
    # One proxy sets the forwarded headers once each: TRUSTED_PROXIES=1.
    assert site.count("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;") == 1
    assert site.count("proxy_set_header X-Forwarded-Proto $scheme;") == 1
    assert "TRUSTED_PROXIES=1" in site
    assert "proxy_set_header X-Request-ID $request_id;" in site
    assert "ssl_certificate " in site and "return 301 https://" in site


# --- Backups: the database -----------------------------------------------------------------------------------------


def _pg(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.mark.commits  # pg_dump reads committed rows from its own connection
def test_pg_dump_and_restore_of_a_small_database(app, ctx, database_url, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("pg_dump/pg_restore need PostgreSQL (set TEST_DATABASE_URL); SQLite is backed up as one file")
    for index in range(3):
        make_report(make_user(), description=f"备份测试 {index}")
    db.session.commit()
    url = sa.make_url(database_url)
    restored_name = f"{url.database}_restore_{uuid.uuid4().hex[:6]}"
    assert "test" in restored_name
    connection = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    dump = tmp_path / f"{restored_name}.dump"
    # The commands of README, Running in production → Backups.
    subprocess.run([_pg("pg_dump"), *connection, "-Fc", "-f", str(dump), url.database], check=True, timeout=120)
    subprocess.run([_pg("createdb"), *connection, "-T", "template0", restored_name], check=True, timeout=60)
    try:
        subprocess.run(
            [_pg("pg_restore"), *connection, "--no-owner", "--exit-on-error", "-d", restored_name, str(dump)],
            check=True,
            timeout=120,
        )
        engine = sa.create_engine(url.set(database=restored_name))
        try:
            with engine.connect() as restored:
                original = {
                    "revision": db.session.scalar(sa.text("SELECT version_num FROM alembic_version")),
                    "reports": sorted(db.session.scalars(sa.select(Report.description))),
                    "photos": sorted(db.session.scalars(sa.select(ReportPhoto.display_key))),
                }
                copy = {
                    "revision": restored.scalar(sa.text("SELECT version_num FROM alembic_version")),
                    "reports": sorted(restored.scalars(sa.select(Report.description))),
                    "photos": sorted(restored.scalars(sa.select(ReportPhoto.display_key))),
                }
        finally:
            engine.dispose()
        assert copy == original and len(copy["reports"]) == 3
    finally:
        subprocess.run([_pg("dropdb"), *connection, "--if-exists", restored_name], check=True, timeout=60)
        dump.unlink(missing_ok=True)


# --- Backups: the photos (object store versioning) ---------------------------------------------------------------


def test_a_deleted_photo_comes_back_from_the_versioned_bucket(s3_storage):
    client, bucket = s3_storage.client, s3_storage.bucket
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    key = "ab/cd/" + "e" * 64 + ".jpg"
    s3_storage.put(key, b"a resident's photo")
    s3_storage.delete(key)  # by mistake, or by someone who should not have
    assert not s3_storage.exists(key)
    # README → Backups: list the versions and remove the delete marker (mc undo / aws s3api delete-object).
    versions = client.list_object_versions(Bucket=bucket, Prefix=key)
    [marker] = [m for m in versions.get("DeleteMarkers", []) if m["IsLatest"]]
    client.delete_object(Bucket=bucket, Key=key, VersionId=marker["VersionId"])
    assert s3_storage.open(key) == b"a resident's photo"
