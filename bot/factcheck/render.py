"""Verdicts, verifications and version comparisons as text, terminal text, JSON and Slack messages.
Format only: every quote shown is a Quote the engine verified; the record's words in a diff are a
slice of the stored text. Transcript text is escaped for Slack and sanitised for terminals."""
from __future__ import annotations

from bot.answer.types import Quote
from bot.messages import language_name, t
from bot.render.citation import citation, plain
from bot.render.slack import _button, _context, _section, escape, format_citation, quote_sections
from bot.render.text import safe_text
from bot.slack.buttons import ACTION_VERIFY, ACTION_VERSIONS

from .notes import difference_details, difference_lines
from .verdict import Verdict
from .verify import VerifyResult
from .version_diff import Comparison

_RED, _GREEN, _BOLD, _STRIKE, _RESET = "\x1b[31m", "\x1b[32m", "\x1b[1m", "\x1b[9m", "\x1b[0m"
_DIFF = "@@onrecord-diff@@"


# -- verdicts -----------------------------------------------------------------------------------------

def _headline(v: Verdict, lang: str) -> str:
    if v.kind == "exact":
        return t(lang, "check_exact")
    if v.kind == "altered":
        return t(lang, "check_altered", share=round(100 * v.share))
    if v.kind == "different_speaker":
        return t(lang, "check_different_speaker", speaker=v.record_speaker or t(lang, "unknown_speaker"),
                 claimed=v.claimed_speaker)
    if v.kind == "out_of_context":
        return t(lang, "check_out_of_context", cue=v.cue)
    if v.kind == "translation_only":
        return t(lang, "check_translation", language=language_name(v.language, lang),
                 original=language_name(v.record_language, lang))
    return t(lang, "check_not_found")


def _nearest_head(v: Verdict, lang: str) -> str:
    if v.claimed_speaker and v.nearest_by_speaker:
        return t(lang, "check_nearest_by", speaker=v.claimed_speaker)
    return t(lang, "check_nearest")


def diff_plain(v: Verdict) -> str:
    """The claim against the record, wdiff style: [-record's words-] {+claim's words+}."""
    out = []
    for o in v.ops:
        if o.op == "equal":
            out.append(o.claim)
            continue
        if o.record:
            out.append(f"[-{o.record}-]")
        if o.claim:
            out.append(f"{{+{o.claim}+}}")
    return " ".join(out)


def diff_terminal(v: Verdict) -> str:
    """The same for a terminal: the record's words struck through in red, the claim's own in bold green."""
    out = []
    for o in v.ops:
        if o.op == "equal":
            out.append(safe_text(o.claim))
            continue
        if o.record:
            out.append(f"{_RED}{_STRIKE}{safe_text(o.record)}{_RESET}")
        if o.claim:
            out.append(f"{_GREEN}{_BOLD}{safe_text(o.claim)}{_RESET}")
    return " ".join(out)


def diff_slack(v: Verdict) -> str:
    """The same for Slack: ~struck~ record words, *bold* claim words (escaped)."""
    out = []
    for o in v.ops:
        if o.op == "equal":
            out.append(escape(o.claim))
            continue
        if o.record:
            out.append(f"~{escape(o.record)}~")
        if o.claim:
            out.append(f"*{escape(o.claim)}*")
    return " ".join(out)


def _quote_lines(q: Quote, lang: str) -> list[str]:
    return [f"“{q.text}”", f"— {plain(citation(q, lang))}", *difference_lines(q, lang)]


def verdict_text(v: Verdict, lang: str | None = None, color: bool = False) -> str:
    """The verdict as text (the JSON's `answer`), or for a terminal (`color`: the diff in colour; sanitised)."""
    lang = lang or v.language
    lines = [_headline(v, lang)]
    if v.kind == "altered":
        lines += ["", t(lang, "check_diff"), _DIFF if color else diff_plain(v), "", t(lang, "check_record_says")]
    if v.compared_with == "version" and v.kind != "not_found":
        lines.insert(1, t(lang, "check_version", language=language_name(v.record_language, lang)))
    shown = v.context if v.kind == "out_of_context" and v.context is not None else v.quote
    if shown is not None and v.kind != "not_found":
        lines += ["", *_quote_lines(shown, lang)]
    if v.kind == "not_found" and v.nearest:
        lines += ["", _nearest_head(v, lang)]
        for q in v.nearest:
            lines += ["", *_quote_lines(q, lang)]
    text = "\n".join(lines)
    # a terminal's text is sanitised, then the diff (sanitised word by word) gets its colours
    return safe_text(text).replace(_DIFF, diff_terminal(v)) if color else text


def verdict_json(v: Verdict, raw: str) -> dict:
    """The JSON contract's shape (question, language, found, answer, quotes) plus `verdict`: `quotes` holds
    the record's sentence(s) when the words are on record, else nothing (found: false)."""
    quotes = []
    if v.found and v.quote is not None:
        quotes = [(v.context if v.kind == "out_of_context" and v.context is not None else v.quote).to_json()]
    return {"question": raw, "language": v.language, "found": v.found and bool(quotes),
            "answer": verdict_text(v), "quotes": quotes, "verdict": v.to_json()}


def _slack_quote(q: Quote, lang: str, blocks: list[dict], fallback: list[str]) -> None:
    blocks.extend(quote_sections(q.text))
    cited = format_citation(citation(q, lang))
    blocks.append(_context(cited))
    for line in difference_lines(q, lang):
        blocks.append(_context(escape(line)))
    if q.ref:
        blocks.append(verify_actions(q, lang))
    fallback.append(f"“{escape(q.text)}” — {cited}")


def verify_actions(q: Quote, lang: str | None) -> dict:
    """A Verify button carrying the quote's reference."""
    return {"type": "actions", "elements": [_button(t(lang, "verify"), ACTION_VERIFY, q.ref or "")]}


def verdict_slack(v: Verdict, lang: str | None = None) -> dict:
    lang = lang or v.language
    head = escape(_headline(v, lang))
    blocks, fallback = [_section(head)], [head]
    if v.compared_with == "version" and v.kind != "not_found":
        blocks.append(_context(escape(t(lang, "check_version", language=language_name(v.record_language, lang)))))
    if v.kind == "altered":
        blocks.append(_context(escape(t(lang, "check_diff"))))
        blocks.append(_section(diff_slack(v)[:2900]))
        blocks.append(_context(escape(t(lang, "check_record_says"))))
        fallback.append(diff_plain(v))
    shown = v.context if v.kind == "out_of_context" and v.context is not None else v.quote
    if shown is not None and v.kind != "not_found":
        _slack_quote(shown, lang, blocks, fallback)
    if v.kind == "not_found" and v.nearest:
        blocks.append(_section(escape(_nearest_head(v, lang))))
        for q in v.nearest:
            _slack_quote(q, lang, blocks, fallback)
    return {"text": safe_text("\n".join(fallback))[:3000], "blocks": blocks[:50]}


# -- verify -------------------------------------------------------------------------------------------

def _verify_lines(r: VerifyResult, lang: str) -> tuple[str, list[str]]:
    if r.status == "intact":
        head = t(lang, "verify_intact")
    elif r.status == "moved":
        place = r.file if r.file.checked else r.index
        head = t(lang, "verify_moved", start=place.start, end=place.end)
    else:
        head = t(lang, "verify_gone")
    notes = [t(lang, f"verify_{n}") for n in r.notes]
    return head, notes


def verify_text(r: VerifyResult, lang: str = "en", color: bool = False) -> str:
    head, notes = _verify_lines(r, lang)
    lines = [head, *notes]
    if r.quote is not None:
        lines += ["", *_quote_lines(r.quote, lang)]
    if r.status == "gone" and r.now:
        lines += ["", t(lang, "verify_now"), f"“{r.now}”"]
        if r.now_quote is not None:
            lines.append(f"— {plain(citation(r.now_quote, lang))}")
    text = "\n".join(lines)
    return safe_text(text) if color else text


def verify_slack(r: VerifyResult, lang: str = "en", versions: bool = False) -> dict:
    """`versions`: the statement has versions in other languages: a button to see them side by side."""
    head, notes = _verify_lines(r, lang)
    blocks, fallback = [_section(escape(head))], [escape(head)]
    blocks += [_context(escape(n)) for n in notes]
    if r.quote is not None:
        blocks.extend(quote_sections(r.quote.text))
        blocks.append(_context(format_citation(citation(r.quote, lang))))
        blocks.extend(_context(escape(line)) for line in difference_lines(r.quote, lang))
        fallback.append(f"“{escape(r.quote.text)}”")
        if versions and r.quote.ref:
            blocks.append({"type": "actions", "elements": [
                _button(t(lang, "versions_side_by_side"), ACTION_VERSIONS, r.quote.ref)]})
    if r.status == "gone" and r.now:
        blocks.append(_context(escape(t(lang, "verify_now"))))
        blocks.extend(quote_sections(r.now))
        fallback.append(escape(r.now))
    return {"text": safe_text("\n".join(fallback))[:3000], "blocks": blocks[:50]}


def verify_bad(reason: str, lang: str | None) -> str:
    return t(lang, "verify_bad", reason=reason)


# -- versions side by side -----------------------------------------------------------------------------

def versions_text(comparisons: list[Comparison], lang: str = "en", color: bool = False, width: int = 60) -> str:
    if not comparisons:
        return t(lang, "no_versions")
    out = []
    for c in comparisons:
        here, other = language_name(c.document.language, lang), language_name(c.other.language, lang)
        out.append(t(lang, "versions_title", language=here, other=other, **c.counts()))
        for r in c.rows:
            mark = {"aligned": " ", "differs": "≠", "only_here": "<", "only_there": ">"}[r.status]
            if r.in_quote:
                mark += "*"
            left = r.here_text.replace("\n", " ") if r.here_text else f"({t(lang, 'only_in', language=other)})"
            right = r.there_text.replace("\n", " ") if r.there_text else f"({t(lang, 'only_in', language=here)})"
            out.append("")
            out.append(f"{mark:<2} [{c.document.language}] {left}")
            out.append(f"{'':<2} [{c.other.language}] {right}")
            if r.difference:
                line = safe_text(f"{'':<2} ≠ {difference_details(r.difference.to_json(), lang)}")
                out.append(f"{_RED}{line}{_RESET}" if color else line)
        out.append("")
    return "\n".join(safe_text(x) if not x.startswith(_RED) else x for x in out).rstrip()


def versions_slack(comparisons: list[Comparison], lang: str = "en") -> dict:
    """The versions side by side as a Slack message: per aligned pair one section (this version, then the
    other), marked ≠ where figures or names differ, with the difference in a context line; sentences
    only in one version say so. Long statements are cut to Slack's 50 blocks."""
    if not comparisons:
        return {"text": t(lang, "no_versions"), "blocks": [_section(escape(t(lang, "no_versions")))]}
    blocks, fallback = [], []
    for c in comparisons:
        here, other = language_name(c.document.language, lang), language_name(c.other.language, lang)
        head = escape(t(lang, "versions_title", language=here, other=other, **c.counts()))
        blocks.append(_section(head))
        fallback.append(head)
        for r in c.rows:
            if len(blocks) >= 48:
                blocks.append(_context(escape(t(lang, "more_omitted"))))
                break
            mark = {"aligned": "", "differs": "≠ ", "only_here": "", "only_there": ""}[r.status]
            left = escape(r.here_text) if r.here_text else f"_{escape(t(lang, 'only_in', language=other))}_"
            right = escape(r.there_text) if r.there_text else f"_{escape(t(lang, 'only_in', language=here))}_"
            star = "*" if r.in_quote else ""
            text = f"{mark}{star}[{c.document.language}]{star} {left}\n{mark}[{c.other.language}] {right}"
            blocks.append(_section(text[:2900]))
            if r.difference:
                blocks.append(_context(escape(difference_details(r.difference.to_json(), lang))))
    return {"text": safe_text("\n".join(fallback))[:3000], "blocks": blocks[:50]}
