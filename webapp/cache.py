"""In-process copies of static data, versioned in the database so that every process agrees; and public
figures kept for a short time.

Static data — the category taxonomy, the points rule versions, the published campaigns — changes only when an
admin changes it, and is read on nearly every page. Each process keeps a copy per kind; a row per kind in
``cache_versions`` holds a counter that the service making a change bumps (``bump``) in the same transaction as
the change. The first cached read of a request reads every counter in one query (so at most one query per
request, however many kinds it reads; and not again within ``STATIC_CACHE_CHECK_SECONDS``, default 1 s) and
reloads a copy whose counter has moved. A change committed through one process therefore reaches every other
process within that second (the changing process sees it at once), and a rolled-back change leaves the counter
where it was. Data that many places write (grids, departments, the working calendar, the open emergencies) is
bumped by the flush that writes its rows instead (``bump_on_flush``), so no writer can forget.

Cached values must be plain, immutable data (tuples, frozen dataclasses): never ORM objects, which belong to one
session. Services that need ORM objects (to assign a relationship) still load them from the session.

Public figures that aggregate many rows (the open-data headline, counts of long lists, honour rolls, campaign
progress) are kept per process for a few seconds or minutes instead (``remember``), so no public page scans the
reports or the ledger on every request. Changes flushed by this process (``forget_figures_on_flush``) and static
data that changed (``bump`` here, a moved counter from another process) forget them at once; other processes see
a flushed change when their copy expires. Nothing is kept by a request that has flushed such a change itself (it
may still roll back).

Pieces of public pages (``fragment``: the report lists, a report's page, the open data) are figures too: rendered
once per viewer class (``webapp.reports.privacy.viewer_class``: only anonymous visitors share one), language and
``key``, kept ``PUBLIC_FRAGMENT_SECONDS``. A viewer of no shared class always gets a page rendered for them alone.

Both live on the application (``app.extensions``), so two apps in one process (tests, benches) never share them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import current_app, g, has_app_context
from sqlalchemy.orm import Mapped, Session, mapped_column

from webapp.db import db
from webapp.extensions import request_locale

T = TypeVar("T")

_LOADERS: dict[str, Callable[[], Any]] = {}
_DIRTY = -1  # changed in this (uncommitted) transaction: read fresh, keep nothing
FIGURES_MAX = 2_000  # remembered figures per process (keys come from query arguments: keep memory bounded)
FIGURES_MAX_CHARS = 20_000_000  # and the rendered pieces of pages among them, in characters


class CacheVersion(db.Model):
    """One counter per kind of cached static data; bumped in the transaction that changes the data."""

    __tablename__ = "cache_versions"

    name: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)


def cached(name: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
    """Register ``loader`` as the source of the copy called ``name``; the decorated function returns the copy."""

    def decorate(loader: Callable[[], T]) -> Callable[[], T]:
        _LOADERS[name] = loader

        def read() -> T:
            return get(name)  # type: ignore[no-any-return]

        read.__doc__ = loader.__doc__
        read.__name__ = loader.__name__
        read.load = loader  # type: ignore[attr-defined]  # the uncached loader, for tests and benches
        return read

    return decorate


def _store() -> dict[str, tuple[int, Any]]:
    return current_app.extensions.setdefault("static_cache", {})  # type: ignore[no-any-return]


def _versions() -> dict[str, int]:
    """Every counter, read at most once per application context (a request), and not again within
    ``STATIC_CACHE_CHECK_SECONDS`` in this process."""
    versions: dict[str, int] | None = g.get("_cache_versions")
    if versions is None:
        interval = float(current_app.config.get("STATIC_CACHE_CHECK_SECONDS", 0))
        checked = current_app.extensions.get("static_cache_versions")
        now = time.monotonic()
        if checked is not None and now - checked[0] < interval:
            versions = dict(checked[1])
        else:
            rows = db.session.execute(sa.select(CacheVersion.name, CacheVersion.version))
            versions = {name: int(version) for name, version in rows}
            current_app.extensions["static_cache_versions"] = (now, dict(versions))
            if checked is not None and checked[1] != versions:
                forget_figures()  # pages and figures show names and campaigns from the static data
        g._cache_versions = versions
    return versions


def get(name: str) -> Any:
    loader = _LOADERS[name]
    if not has_app_context():
        return loader()
    version = _versions().get(name, 0)
    if version == _DIRTY:
        return loader()
    store = _store()
    entry = store.get(name)
    if entry is not None and entry[0] == version:
        return entry[1]
    # Read the counter before the data: a change committed in between only causes one extra reload later.
    value = loader()
    store[name] = (version, value)
    return value


def bump(name: str) -> None:
    """Mark ``name`` as changed, in the caller's transaction (services flush; the caller commits)."""
    updated = db.session.execute(
        sa.update(CacheVersion).where(CacheVersion.name == name).values(version=CacheVersion.version + 1)
    )
    if not updated.rowcount:  # type: ignore[attr-defined]
        db.session.add(CacheVersion(name=name, version=1))
        db.session.flush()
    _changed_here(name)


def _changed_here(name: str) -> None:
    if has_app_context():
        _store().pop(name, None)
        _versions()[name] = _DIRTY
        forget_figures()


def clear() -> None:
    """Forget every copy and figure of this application (tests empty the database between tests)."""
    _store().clear()
    forget_figures()
    current_app.extensions.pop("static_cache_versions", None)
    g.pop("_cache_versions", None)


# --- Public figures, kept for a short time ---------------------------------------------------------------------


def _figures(through_writes: bool = False) -> dict[tuple[str, Hashable], tuple[float, Any]]:
    name = "figure_cache_through_writes" if through_writes else "figure_cache"
    return current_app.extensions.setdefault(name, {})  # type: ignore[no-any-return]


def remember(
    name: str, seconds: float, key: Hashable, compute: Callable[[], T], *, through_writes: bool = False
) -> T:
    """``compute()``, kept in this process for ``seconds`` under (``name``, ``key``). The value must be immutable.

    ``through_writes``: kept for its whole time even when this process writes reports or points meanwhile, for a
    costly figure of a whole period whose page says how old it may be (the open-data month): under a steady flow
    of reports every write would otherwise recount it. Static data that changed still forgets it."""
    if not has_app_context():
        return compute()
    figures = _figures(through_writes)
    now = time.monotonic()
    entry = figures.get((name, key))
    if entry is not None and entry[0] > now:
        return entry[1]  # type: ignore[no-any-return]
    value = compute()
    if g.get("_figures_written"):
        return value  # computed from this transaction's own changes, which may still roll back
    if through_writes:  # small figures, few keys: counted, not measured
        if len(figures) >= FIGURES_MAX:
            figures.clear()
        figures[(name, key)] = (now + seconds, value)
        return value
    size = _size(value)
    chars = current_app.extensions.get("figure_chars", 0) + size - (_size(entry[1]) if entry is not None else 0)
    if len(figures) >= FIGURES_MAX or chars > FIGURES_MAX_CHARS:
        figures.clear()
        chars = size
    figures[(name, key)] = (now + seconds, value)
    current_app.extensions["figure_chars"] = chars
    return value


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, tuple):
        return sum(len(item) for item in value if isinstance(item, str))
    return 0


def fragment(name: str, key: Hashable, render: Callable[[], T], *, shared_as: str | None) -> T | None:
    """A piece of a public page, ``render()``, kept ``PUBLIC_FRAGMENT_SECONDS`` for the viewer class ``shared_as``
    (``privacy.viewer_class``) per language and ``key`` (everything else that changes it: filters, page, report).
    None when the viewer belongs to no shared class: render the page for them alone."""
    if shared_as is None:
        return None
    _versions()  # pages show static data (names, campaigns): a change made elsewhere forgets them within a second
    seconds = float(current_app.config.get("PUBLIC_FRAGMENT_SECONDS", 10))
    return remember(f"fragment:{name}", seconds, (shared_as, str(request_locale()), key), render)


def forget_figures(*, written: bool = False) -> None:
    """Forget this process's figures and pieces of pages; ``written``: only those a write makes stale."""
    if has_app_context():
        _figures().clear()
        if not written:
            _figures(through_writes=True).clear()
        current_app.extensions["figure_chars"] = 0


_WATCHED: set[type] = set()


def _written(session: Session) -> None:
    forget_figures(written=True)
    session.info["figures_written"] = True
    if has_app_context():
        g._figures_written = True


def _after_flush(session: Session, flush_context: Any) -> None:
    watched = tuple(_WATCHED)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, watched):
            _written(session)
            return


def _on_execute(state: Any) -> None:
    """UPDATE and DELETE statements on a model (stock taken, a follower removed) write without a flush."""
    if state.is_update or state.is_delete:
        mapper = state.bind_mapper
        if mapper is not None and issubclass(mapper.class_, tuple(_WATCHED)):
            _written(state.session)


def _after_commit(session: Session) -> None:
    # Again once committed: another thread of this process may have kept what it read in between.
    if not session.in_nested_transaction() and session.info.pop("figures_written", False):
        forget_figures(written=True)


def forget_figures_on_flush(*models: type) -> None:
    """Forget this process's figures whenever a flush or an UPDATE or DELETE statement writes one of ``models``
    (called by the factory)."""
    _WATCHED.update(models)
    if not sa.event.contains(Session, "after_flush", _after_flush):
        sa.event.listen(Session, "after_flush", _after_flush)
        sa.event.listen(Session, "do_orm_execute", _on_execute)
        sa.event.listen(Session, "after_commit", _after_commit)


# --- Copies bumped by the rows they are made of ------------------------------------------------------------------

_BUMPED_BY: dict[type, list[tuple[str, Callable[[Any], bool] | None]]] = {}


def bump_on_flush(name: str, model: type, when: Callable[[Any], bool] | None = None) -> None:
    """Bump ``name`` in the transaction of any flush that adds, changes or deletes a ``model`` row (for which
    ``when(row)`` holds, if given): for data that many places write (the CLI, imports, admin pages, the demo), so
    none of them can forget. Bulk UPDATE/DELETE statements are not seen: their callers ``bump`` themselves."""
    entries = _BUMPED_BY.setdefault(model, [])
    if all(entry[0] != name for entry in entries):
        entries.append((name, when))
    if not sa.event.contains(Session, "after_flush", _bump_after_flush):
        sa.event.listen(Session, "after_flush", _bump_after_flush)


def _bump_after_flush(session: Session, flush_context: Any) -> None:
    names: set[str] = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        for model, entries in _BUMPED_BY.items():
            if isinstance(obj, model):
                names.update(name for name, when in entries if when is None or when(obj))
    table = CacheVersion.__table__
    for name in sorted(names):  # one order, so two transactions bumping the same names cannot deadlock
        connection = session.connection()
        updated = connection.execute(
            sa.update(table).where(table.c.name == name).values(version=table.c.version + 1)
        )
        if not updated.rowcount:
            connection.execute(sa.insert(table).values(name=name, version=1))
        _changed_here(name)
