"""German Bundestag plenary records.

Speech files (one speech each): the first line "Name, role:" or "Name (Party):" names the speaker;
later turn lines ("Präsident Dr. Wolfgang Schäuble:") hand the floor to someone else.

Session protocols (a whole sitting): the table of contents is skipped (the record starts after
"Beginn: …" or "Die Sitzung wird … eröffnet"); turn lines such as "Präsident Dr. Ehlers: …",
"Lausen (SPD): …", "Schäffer, Bundesminister der Finanzen: …" set the speaker (their text may
continue on the same line); running page heads are skipped; the record ends at "(Schluß der Sitzung …)".

Interjections — whole lines or paragraphs in parentheses, and parenthesised "(Beifall …)",
"(Zuruf …)" inside a line — are never part of a segment and never attributed to the speaker.
"""
from __future__ import annotations

import re
from pathlib import Path

from ...document import Document
from . import TEXT_SUFFIXES, Format
from ..common import Line, SegmentList, collapse, hard_wrapped, iter_blocks, lines, main_speaker, wrapped
from ..dates import parse_date

_NAME = (
    r"(?:(?:Frau|Herr)\s+)?(?:(?:Dr\.|Prof\.|Dr\.\s?h\.\s?c\.|h\.\s?c\.|Dipl\.-\w+\.)\s*)*"
    r"[A-ZÄÖÜ][\w'’\-]*\.?(?:\s+(?:von|van|de|der|den|zu|vom|und|la|di|in|im|auf|dem|ten|ter|op|[A-ZÄÖÜ][\w'’\-]*\.?)){0,5}"
    r"(?:\s*\([A-ZÄÖÜ][^()\n]{0,30}\))?"
)
_CHAIR = r"(?:Alters|Vize)?[Pp]räsident(?:in)?"
_ROLE = (
    r"(?:Parl\.\s+|Parlamentarische[r]?\s+)?(?:Bundesminister|Bundeskanzler|Staatsminister|Staatssekretär|Schriftführer|"
    r"Berichterstatter|Antragsteller|Minister|Senator|Wehrbeauftragte|Beauftragte|Ministerpräsident|Bürgermeister|"
    r"Erste[rn]?\s+Bürgermeister|Regierende[rn]?\s+Bürgermeister|Präsident|Vizepräsident|Abg\.|Mitglied|Bevollmächtigte|Staatsrat)"
)
TURN = re.compile(
    rf"(?:(?P<chair>{_CHAIR})\s+(?P<cname>{_NAME})"
    rf"|(?P<pname>{_NAME})\s*\((?P<party>[^()]{{1,40}})\)"
    rf"|(?P<rname>{_NAME})\s*[,.]\s+(?P<role>{_ROLE}[^:\n]{{0,120}}?))"
    r"\s*:(?=\s|$)"
)
_PAGE_HEAD = re.compile(r"Deutscher\s+Bundestag\s*[–—-]\s*(?:\d+\.\s*Wahlperiode|\d+\.\s*Sitzung)")
_BEGIN = re.compile(r"^\s*(?:Beginn\s*:?\s*\d|Die\s+Sitzung\s+wird\s+um\b.*\beröffnet)")
_END = re.compile(r"^\s*\((?:Schlu(?:ß|ss)\b[^)]*)\)\s*$")
_INLINE_INTERJECTION = re.compile(
    r"\((?:Beifall|Zuruf|Zurufe|Heiterkeit|Lachen|Widerspruch|Zustimmung|Unruhe|Sehr\s+(?:richtig|gut|wahr)|Bravo|"
    r"Abg\.|Gegenruf|Gegenrufe|Lebhafte[rn]?|Anhaltende[rn]?|Große[rn]?|Erneute[rn]?|Glocke|Hört|Pfui|Ironische[rn]?|"
    r"Zwischenruf|Weitere[rn]?\s+Zurufe|Oh|Na\s+ja|Ah|Unterbrechung)[^()]*(?:\([^()]*\)[^()]*)*\)"
    r"|\([^()\[\]\n]{2,80}\[[^\]\n]{1,40}\]:[^()]*(?:\([^()]*\)[^()]*)*\)"
)
_INTERJECTION_OPENING = re.compile(
    r"\((?:Beifall|Zuruf|Zurufe|Heiterkeit|Lachen|Widerspruch|Zustimmung|Unruhe|Sehr\s+(?:richtig|gut)|Bravo|Abg\.|"
    r"Gegenruf|Lebhafte[rn]?|Anhaltende[rn]?|Erneute[rn]?|Glocke|Zwischenruf)\b"
)
SESSION_SNIFF = re.compile(r"Deutscher\s+Bundestag|Plenarprotokoll|Stenogra(?:ph|f)ischer\s+Bericht")


def turn_at(text: str, start: int, end: int):
    """Match of a turn line opening at `start` (the speaker label and its colon), or None."""
    m = TURN.match(text, start, end)
    if not m:
        return None
    label = m.group(0)
    if len(label) > 180:
        return None
    return m


_PARTY_TAIL = re.compile(r"\s*\((?:[A-ZÄÖÜ0-9/ .\-]+|fraktionslos|Bündnis[^()]*|DIE LINKE|Die Linke|AfD|GRÜNE|Grüne)\)$")


def _name(s: str) -> str:
    """'Anita Schäfer (Saalstadt)' → 'Anita Schäfer'; 'Neber (CDU)' → 'Neber'."""
    s = _PARTY_TAIL.sub("", collapse(s))
    return re.sub(r"\s*\([^()]*\)$", "", s) or s


def speaker_of(m) -> tuple[str, str | None]:
    """(name, role-or-party) from a TURN match: 'Dr. Wolfgang Schäuble', 'Präsident'."""
    if m.group("chair"):
        return _name(m.group("cname")), m.group("chair")
    if m.group("pname"):
        return _name(m.group("pname")), collapse(m.group("party"))
    return _name(m.group("rname")), collapse(m.group("role"))


def looks_like_speech(text: str, start: int = 0) -> bool:
    for ln in lines(text, start, min(len(text), start + 2000)):
        if ln.blank:
            continue
        m = turn_at(text, ln.start, ln.end)
        return bool(m) and not text[m.end() : ln.end].strip()
    return False


def looks_like_session(text: str) -> bool:
    head = text[:3000]
    return bool(SESSION_SNIFF.search(head)) and bool(re.search(r"\d+\.\s*Sitzung", head))


def _paren_span(text: str, ls: list[Line], i: int) -> int | None:
    """If line i opens a parenthesis that closes at the end of line k ≥ i (same block), return k."""
    depth = 0
    for k in range(i, min(len(ls), i + 12)):
        ln = ls[k]
        if k > i and ln.blank:
            return None
        s = ln.text
        for pos, ch in enumerate(s):
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    return k if not s[pos + 1 :].strip() else None
        if depth <= 0:
            return None
    # unbalanced (a typo in the record: "(Beifall des Abg. … [DIE" / "LINKE]"): an interjection
    # by its opening word runs to the end of its block
    if _INTERJECTION_OPENING.match(ls[i].text.lstrip()):
        k = i
        while k + 1 < len(ls) and k - i < 3 and not ls[k + 1].blank:
            k += 1
        return k
    return None


_LEAD_DASH = re.compile(r"[—–-][ \t\u00a0]+")


def _add_split(segs: SegmentList, text: str, start: int, end: int, speaker: str | None, context: str | None) -> None:
    """Add text[start:end] as segments, leaving out parenthesised interjections inside it (and the
    dash that opens a reply to an interjection: "— Ja, Herr Strauß, …")."""
    m = _LEAD_DASH.match(text, start, end)
    pos = m.end() if m else start
    for m in _INLINE_INTERJECTION.finditer(text, start, end):
        segs.add(pos, m.start(), speaker=speaker, context=context, strip_decoration=False)
        pos = m.end()
    segs.add(pos, end, speaker=speaker, context=context, strip_decoration=False)


def parse_bundestag(text: str, source: str, path: Path, body_start: int = 0) -> list[Document]:
    session = not looks_like_speech(text, body_start)
    ls = lines(text, body_start)
    begin = 0
    title = None
    date = None
    if session:
        head = text[body_start : body_start + 4000]
        m = re.search(r"Plenarprotokoll\s+(\d+/\d+)", head)
        n = re.search(r"(\d+)\.\s*Sitzung", head)
        date = parse_date(head)
        title = f"Plenarprotokoll {m.group(1)}" if m else (f"Deutscher Bundestag, {n.group(1)}. Sitzung" if n else None)
        if title and date:
            title += f" vom {date[8:10]}.{date[5:7]}.{date[:4]}"
        for i, ln in enumerate(ls):
            if _BEGIN.match(ln.text):
                begin = i + (0 if turn_at(text, ln.start, ln.end) else 1)
                break
        else:
            for i, ln in enumerate(ls):
                mt = turn_at(text, ln.start, ln.end)
                if mt and mt.group("chair"):
                    begin = i
                    break
    segs = SegmentList(text)
    speaker: str | None = None
    roles: dict[str, str] = {}
    first_speaker: str | None = None
    first_role: str | None = None
    body = ls[begin:]
    wrap = hard_wrapped(body)
    skip_until = -1
    after_head = False
    ended = False
    for block in iter_blocks(body):
        par_start: int | None = None
        par_end = 0
        prev: Line | None = None

        def flush():
            nonlocal par_start
            if par_start is not None:
                _add_split(segs, text, par_start, par_end, speaker, None)
            par_start = None

        for bi, ln in enumerate(block):
            if ended:
                break
            if bi <= skip_until:
                continue
            raw = ln.text.strip()
            if _END.match(ln.text):
                flush()
                ended = True
                break
            if _PAGE_HEAD.search(raw):
                flush()
                after_head = True
                prev = None
                continue
            if raw.startswith("("):
                k = _paren_span(text, block, bi)
                if k is not None:
                    flush()
                    skip_until = k
                    prev = None
                    after_head = False
                    continue
            if re.fullmatch(r"[\d\s*()ABCD.,]+", raw):
                flush()
                prev = None
                continue
            lstart = ln.start + (len(ln.text) - len(ln.text.lstrip()))
            mt = turn_at(text, lstart, ln.end)
            if mt is None and bi + 1 < len(block) and ln.text.rstrip().endswith(("-", "/")):
                # a turn line broken over two lines: "Katrin Göring-Eckardt (BÜNDNIS 90/DIE GRÜ-" / "NEN):"
                nxt = block[bi + 1]
                m2 = turn_at(text, lstart, nxt.end)
                if m2 is not None and m2.end() > nxt.start:
                    mt = m2
                    skip_until = bi + 1
                    ln = nxt
            if mt:
                flush()
                name, role = speaker_of(mt)
                speaker = name
                roles.setdefault(name, role or "")
                if first_speaker is None:
                    first_speaker, first_role = name, role
                par_start, par_end = mt.end(), ln.end
                prev = ln if text[mt.end() : ln.end].strip() else None
                after_head = False
                continue
            if after_head and len(raw) <= 80 and not re.search(r"[.!?:;,]$", raw):
                after_head = False  # running head after a page head: "Parl. Staatssekretär Dr. de With"
                continue
            after_head = False
            if par_start is not None and prev is not None and wrap and wrapped(prev, ln):
                par_end = ln.end
            else:
                flush()
                par_start, par_end = ln.start, ln.end
            prev = ln
        flush()
        skip_until = -1
        if ended:
            break
    if not session:
        title = f"{first_speaker}, {first_role}" if first_speaker and first_role and first_role[:1].isupper() and "(" not in (first_role or "") else None
        if first_speaker and first_role and not title:
            title = f"{first_speaker} ({first_role})"
        main = first_speaker
    else:
        chair = lambda name: bool(re.match(_CHAIR, roles.get(name, "") or ""))  # noqa: E731
        main = main_speaker(segs.items, chair) or first_speaker
    extra = {"speakers": list(roles), "roles": {n: r for n, r in roles.items() if r}}
    if not session and first_role:
        extra["role"] = first_role
    doc = Document(
        source=source,
        text=text,
        start=body_start,
        end=len(text),
        segments=segs.items,
        title=title,
        speaker=main,
        date=date,
        kind="bundestag",
        extra=extra,
    )
    return [doc]


FORMAT = Format(
    name="bundestag",
    suffixes=TEXT_SUFFIXES,
    parse=parse_bundestag,
    sniff=lambda text, body: looks_like_speech(text, body) or looks_like_session(text[body:]),
    priority=20,
    front_matter=True,
    description="Bundestag speeches and plenary protocols (interjections are never the speaker's words)",
)
