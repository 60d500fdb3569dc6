"""Every user-facing string is translated into Simplified Chinese, with the same placeholders."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "webapp" / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")


def read_catalogue(path: Path, locale: str | None = "zh_Hans_CN"):  # type: ignore[no-untyped-def]
    with path.open("rb") as handle:
        return list(read_po(handle, locale=locale))


def test_every_message_in_the_code_is_translated(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "--ignore-dirs",
            ".*",  # Babel skips folders starting with "_" by default, like templates/_macros
            "-k",
            "_l",
            "-k",
            "lazy_gettext",
            "-k",
            "ngettext:1,2",
            "--no-location",
            "-o",
            str(pot),
            str(ROOT),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    wanted = {m.id for m in read_catalogue(pot, locale=None) if m.id}
    catalogue = {m.id: m for m in read_catalogue(PO) if m.id}
    missing = [m for m in wanted if m not in catalogue or not catalogue[m].string or catalogue[m].fuzzy]
    assert not missing, "untranslated (run `make extract-messages` and translate):\n" + "\n".join(map(str, missing))


def test_translations_keep_their_placeholders():
    for message in read_catalogue(PO):
        if not message.id:
            continue
        source = message.id if isinstance(message.id, str) else message.id[0]
        target = message.string if isinstance(message.string, str) else message.string[0]
        if not target:
            continue  # untranslated: the test above reports it
        assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(target)), source


def test_catalogue_keeps_its_header_so_it_compiles():
    # Babel treats a catalogue without its header as fuzzy and `pybabel compile` then skips it silently,
    # leaving the app in English.
    with PO.open("rb") as handle:
        catalogue = read_po(handle, locale="zh_Hans_CN")
    assert not catalogue.fuzzy
    assert catalogue.plural_forms == "nplurals=1; plural=0;"
