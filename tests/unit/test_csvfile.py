"""webapp.csvfile: the one CSV writer (BOM, formula guard, streaming)."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from webapp import csvfile


@pytest.mark.parametrize("text", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")'])
def test_text_that_would_run_as_a_formula_is_kept_as_text(text):
    assert csvfile.cell(text) == "'" + text


def test_other_values():
    assert csvfile.cell(None) == "" and csvfile.cell(True) == "true" and csvfile.cell(False) == "false"
    assert csvfile.cell(-5) == "-5" and csvfile.cell(-1.5) == "-1.5" and csvfile.cell(Decimal("-0.10")) == "-0.10"
    assert csvfile.cell(date(2026, 12, 6)) == "2026-12-06"
    assert csvfile.cell(["a", "b"]) == "a b" and csvfile.cell("普通 text") == "普通 text"
    assert csvfile.cell(["-x", "y"]) == "'-x y"


def test_the_file_has_a_bom_crlf_lines_and_reads_back():
    rows = [["=cmd", 1, "逗号,和\"引号\""], [None, -2, "多行\n文字"]]
    text = csvfile.text(["a", "b", "c"], rows)
    assert text.startswith("\ufeffa,b,c\r\n")
    assert list(csv.reader(io.StringIO(text.lstrip("\ufeff")))) == [
        ["a", "b", "c"], ["'=cmd", "1", "逗号,和\"引号\""], ["", "-2", "多行\n文字"]
    ]  # fmt: skip


def test_lines_are_a_generator():
    def rows():
        yield [1]
        raise RuntimeError("not read ahead")

    lines = csvfile.lines(["n"], rows())
    assert next(lines) == "\ufeff" and next(lines) == "n\r\n" and next(lines) == "1\r\n"
    with pytest.raises(RuntimeError):
        next(lines)


def test_a_download_says_text_csv_with_one_charset(app):
    with app.test_request_context():
        response = csvfile.response(["a"], [["1"]], "x.csv")
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="x.csv"'
    assert response.get_data(as_text=True) == "\ufeffa\r\n1\r\n"
