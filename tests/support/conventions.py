"""Dates and numbers on a console page follow its language's conventions (issue 15).

Indonesian (id): "3 Desember 2026", "3 Des 2026" or 03/12/2026; decimal comma, thousands dot.
English (en, British conventions): "3 December 2026", "3 Dec 2026" or 03/12/2026; decimal
point, thousands comma. Neither shows a machine date (2026-12-03) or a 12-hour clock, and each
input a person types a date into holds it day first. The text read is what the page shows:
the view's rendered text and the values of its inputs.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page

ISO_DAY = re.compile(r"\b\d{4}-\d{2}(-\d{2})?\b")  # 2026-12-03, or a bare 2026-12
TWELVE_HOUR = re.compile(r"\d\s?(AM|PM|am|pm)\b")
CLOCK = re.compile(r"\b\d{1,2}[.:]\d{2}[.:]\d{2}\b")  # 14.05.09 (id) or 14:05:09 (en)
# The months whose names differ (April, September, November and most short forms are shared).
ENGLISH_MONTHS = re.compile(
    r"\b(January|February|March|May|June|July|August|October|December|Aug|Oct|Dec)\b"
)
INDONESIAN_MONTHS = re.compile(
    r"\b(Januari|Februari|Maret|Mei|Juni|Juli|Agustus|Oktober|Desember|Agu|Okt|Des)\b"
)
# "1,234" is a thousand in English and a decimal in Indonesian only with up to two places here.
THOUSANDS_COMMA = re.compile(r"\b\d{1,3}(,\d{3})+\b")
THOUSANDS_DOT = re.compile(r"\b\d{1,3}(\.\d{3})+\b")
DECIMAL_POINT = re.compile(r"\b\d+\.\d{1,2}\b")
DECIMAL_COMMA = re.compile(r"\b\d+,\d{1,2}\b")
DAY_FIRST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def shown(page: Page) -> tuple[str, list[str]]:
    """The view's text, and the values of its date inputs (every input named as a day)."""
    text = page.locator("#view").inner_text()
    days = page.locator("#view input[data-day], #view input[type=date]").evaluate_all(
        "es => es.map(e => e.value)"
    )
    return text, [str(d) for d in days]


def assert_conventions(page: Page, lang: str) -> None:
    """No date or number on the page is written outside `lang`'s conventions."""
    assert lang in ("id", "en")
    assert page.locator("#view input[type=date]").count() == 0, (
        "a native date input shows the browser's locale, not the console's"
    )
    text, days = shown(page)
    for value in days:
        if value:
            m = DAY_FIRST.match(value)
            assert m, f"not day first: {value}"
            assert 1 <= int(m[1]) <= 31, value
            assert 1 <= int(m[2]) <= 12, value
    bare = CLOCK.sub(" ", text)
    problems = [
        m.group(0)
        for pattern in (ISO_DAY, TWELVE_HOUR)
        + (
            (ENGLISH_MONTHS, THOUSANDS_COMMA, DECIMAL_POINT)
            if lang == "id"
            else (INDONESIAN_MONTHS, THOUSANDS_DOT, DECIMAL_COMMA)
        )
        for m in pattern.finditer(bare)
    ]
    assert problems == [], f"outside the {lang} conventions: {problems[:10]}"
