"""Dates written in titles, headers and file names, in the languages On Record reads."""
from __future__ import annotations

import datetime as _dt
import re

_MONTH_NAMES = {
    1: "january jan januari januar jänner janvier enero gennaio janeiro stycznia styczeń tammikuuta tammikuu "
    "январь января янв січня січень",
    2: "february feb februari februar février fevrier febrero febbraio fevereiro lutego luty helmikuuta "
    "helmikuu февраль февраля фев лютого лютий",
    3: "march mar mars märz maerz marzo março marco maart marca marzec maaliskuuta maaliskuu март марта "
    "березня березень",
    4: "april apr avril abril aprile kwietnia kwiecień huhtikuuta huhtikuu апрель апреля апр квітня квітень",
    5: "may maj mai mayo maggio maio mei maja toukokuuta toukokuu май мая травня травень",
    6: "june jun juni juin junio giugno junho czerwca czerwiec kesäkuuta kesäkuu июнь июня червня червень",
    7: "july jul juli juillet julio luglio julho lipca lipiec heinäkuuta heinäkuu июль июля липня липень",
    8: "august aug augusti août aout agosto augustus sierpnia sierpień elokuuta elokuu август августа авг "
    "серпня серпень",
    9: "september sep sept septembre septiembre setiembre settembre setembro września wrzesień syyskuuta "
    "syyskuu сентябрь сентября сен вересня вересень",
    10: "october oct oktober okt octobre octubre ottobre outubro października październik lokakuuta "
    "lokakuu октябрь октября окт жовтня жовтень",
    11: "november nov novembre noviembre novembro listopada listopad marraskuuta marraskuu ноябрь ноября "
    "ноя листопада листопад",
    12: "december dec dezember dez décembre decembre diciembre dicembre dezembro grudnia grudzień "
    "joulukuuta joulukuu декабрь декабря дек грудня грудень",
}
MONTHS: dict[str, int] = {w: m for m, names in _MONTH_NAMES.items() for w in names.split()}

_W = r"[^\W\d_]+"
_PATTERNS = [
    # 2024-12-25 (also the date part of 2024-12-25T08:04:57+00:00)
    ("ymd", re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")),
    # 25.12.2024, 13.01. 2026, 25/12/2024
    ("dmy", re.compile(r"(?<!\d)(\d{1,2})[./](\d{1,2})[./]\s?(\d{4})(?!\d)")),
    # December 25, 2024 / Dec. 25th 2024
    ("mdy", re.compile(rf"\b({_W})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})(?!\d)")),
    # 25 December 2024 / 25. december 2024 / 25 декабря 2024 / 25 de diciembre de 2024 / 1er mars 2024
    ("dMy", re.compile(rf"(?<!\d)(\d{{1,2}})(?:\.|er|º|st|nd|rd|th|-го)?\s+(?:de\s+)?({_W})\.?,?\s+(?:de\s+)?(\d{{4}})(?!\d)")),
]


def _make(y: str | int, m: str | int, d: str | int) -> str | None:
    try:
        return _dt.date(int(y), int(m), int(d)).isoformat()
    except (ValueError, TypeError):
        return None


def find_dates(text: str) -> list[tuple[int, str]]:
    """(position, ISO date) of every date found, in order of position."""
    found: list[tuple[int, str]] = []
    for kind, rx in _PATTERNS:
        for m in rx.finditer(text):
            iso = None
            if kind == "ymd":
                iso = _make(m.group(1), m.group(2), m.group(3))
            elif kind == "dmy":
                iso = _make(m.group(3), m.group(2), m.group(1))
            elif kind == "mdy":
                month = MONTHS.get(m.group(1).lower())
                iso = month and _make(m.group(3), month, m.group(2))
            else:
                month = MONTHS.get(m.group(2).lower())
                iso = month and _make(m.group(3), month, m.group(1))
            if iso and 1800 <= int(iso[:4]) <= 2200:
                found.append((m.start(), iso))
    found.sort()
    return found


def parse_date(text: str | None) -> str | None:
    """The first date written in `text`, as YYYY-MM-DD, or None."""
    if not text:
        return None
    found = find_dates(str(text))
    return found[0][1] if found else None


def normalize_date(value) -> str | None:
    """A user-supplied date (date, datetime, ISO string, '13.02.2020', 'December 25, 2024') → ISO."""
    if value is None or value == "":
        return None
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    return parse_date(str(value))


_PAREN_TAIL = re.compile(r"\(([^()]*)\)\W*$")


def title_date(title: str | None) -> str | None:
    """Date from a title, preferring the parentheses at its end ('... (December 25, 2024)')."""
    if not title:
        return None
    m = _PAREN_TAIL.search(title)
    if m:
        d = parse_date(m.group(1))
        if d:
            return d
    for m in re.finditer(r"\(([^()]*)\)", title):
        d = parse_date(m.group(1))
        if d:
            return d
    return parse_date(title)


_NAME_DATE = re.compile(r"(?<!\d)(\d{4})[-_.]?(\d{2})[-_.]?(\d{2})(?!\d)")


def filename_date(name: str) -> str | None:
    """Date in a file name such as 2026-03-09_msg28614.txt or ep-2006-10-11-ch002-00.txt."""
    m = re.search(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)", name) or _NAME_DATE.search(name)
    if not m:
        return None
    iso = _make(m.group(1), m.group(2), m.group(3))
    if iso and 1900 <= int(iso[:4]) <= 2200:
        return iso
    return None
