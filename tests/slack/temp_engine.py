"""TEMPORARY stand-in answerer, used only when ONRECORD_SLACK_TEMP_ENGINE=1 (while the shared
`engine` fixture of tests/conftest.py cannot be built). It slices the real seed transcript:
quotes are exact slices of the file. Delete once the shared engine is always available."""
from __future__ import annotations

import re
from pathlib import Path

from bot.answer_types import Answer, Quote
from bot.compose import compose

SEED = Path("/work/shared/corpus/seed/000_7014e17accf97c28.txt")
SV_WORDS = {"vad", "sa", "om", "och", "det", "att", "inte", "vapenvila", "är", "för", "hur", "vi"}


class SeedSlicer:
    def __init__(self, path: Path = SEED):
        self.path = str(path)
        self.text = open(path, encoding="utf-8").read()
        sv_at = self.text.find("🎙", 10)
        self.paragraphs: list[tuple[int, int, str]] = []
        for m in re.finditer(r"[^\n]+", self.text):
            line = m.group(0)
            if line.startswith("🎙") or len(line) < 40:
                continue
            start = m.start() + (len(line) - len(line.lstrip("•💬 ")))
            self.paragraphs.append((start, m.end(), "sv" if m.start() >= sv_at else "en"))

    def _lang(self, text: str, hint: str | None) -> str:
        ws = set(re.findall(r"\w+", text.lower()))
        if re.search(r"[а-яА-Я]", text):
            return "ru"
        if ws & SV_WORDS and not ws & {"what", "the", "did", "about"}:
            return "sv"
        return "en" if ws & {"what", "the", "did", "about", "how", "who"} else (hint or "en")

    def _mk(self, i: int) -> Quote:
        start, end, lang = self.paragraphs[i]
        same = [p for p in self.paragraphs if p[2] == lang]
        ordinal = same.index(self.paragraphs[i])
        q = Quote(text=self.text[start:end], language=lang, source=self.path, title="Lavrov interview",
                  speaker="Sergey Lavrov", date="2024-12-25", url=None, location=f"¶ {ordinal + 1}",
                  start=start, end=end, score=0.9)
        other = [j for j, p in enumerate(self.paragraphs) if p[2] != lang]
        if ordinal < len(other) and not getattr(self, "_nested", False):
            self._nested = True
            try:
                q.versions = [self._mk(other[ordinal])]
            finally:
                self._nested = False
        return q

    def _rank(self, text: str, lang: str) -> list[int]:
        ws = {w for w in re.findall(r"\w+", text.lower()) if len(w) > 3}
        scored = []
        for i, (s, e, pl) in enumerate(self.paragraphs):
            hits = len(ws & set(re.findall(r"\w+", self.text[s:e].lower())))
            if hits and (pl == lang or lang not in ("en", "sv")):
                scored.append((-hits, i))
        return [i for _, i in sorted(scored)]

    def ask(self, question: str, lang_hint: str | None = None, limit: int = 3, offset: int = 0) -> Answer:
        if not question.strip():
            return compose(question, lang_hint or "en", [], kind="empty")
        lang = self._lang(question, lang_hint)
        ranked = self._rank(question, lang)
        return compose(question, lang, [self._mk(i) for i in ranked[offset:offset + limit]], kind="ask",
                       more=len(ranked) > offset + limit)

    def quote(self, fragment: str, lang_hint: str | None = None, limit: int = 3) -> Answer:
        lang = self._lang(fragment, lang_hint)
        f = fragment.strip()
        hits = [i for i, (s, e, _) in enumerate(self.paragraphs) if f and f.lower() in self.text[s:e].lower()]
        return compose(fragment, lang, [self._mk(i) for i in hits[:limit]], kind="quote")
