"""Speaker names: cleaning labels, finding a name in a title, one spelling per person in a file."""
from __future__ import annotations

import re
from difflib import SequenceMatcher

# Words that are roles, institutions or places around a name in titles and labels, not the name.
ROLE_WORDS = {
    w.lower()
    for w in """
    Russian Russia Russia's Russia’s Foreign Minister Ministry Ministers MFA Spokeswoman Spokesman Spokesperson
    Official Ambassador Ambassadors Permanent Representative Representatives Deputy First President Prime
    Vice Aide Secretary General Director Department Head Chairman Chair Chairwoman Speaker Press Statement
    Comment Comments Remarks Interview Briefing Answer Answers Question Questions Opening Closing Address
    Message Article Op-ed Federation Federal UN UNSC OSCE NATO EU BRICS SCO CSTO CIS USA US Council Security
    Special Envoy Consul Consulate Embassy Mission Acting Senior Mr Mrs Ms Dr Prof Sir Madam Dear Excellency
    Utrikesminister Utrikesministern Talesperson Talesman Talskvinna Presidenten President's Minister's
    Bundesminister Bundesministerin Bundeskanzler Bundeskanzlerin Präsident Präsidentin Vizepräsident
    Vizepräsidentin Alterspräsident Staatssekretär Staatssekretärin Staatsminister Staatsministerin Parl
    Abg Abgeordnete Abgeordneter Frau Herr Kollege Kollegin Commissioner Rapporteur Member MEP Group
    Министр Министра МИД Официальный Представитель Посол Президент Пресс-секретарь Глава Заместитель
    Russian-Iranian World Day International News Conference Meeting Talks Joint Television TV Channel Programme
    Program Radio Newspaper Magazine Agency Minutes Kremlin Moscow Cairo Geneva Brussels New York Washington
    Telegram Affairs Nations United Office Republic FM MP Veteran Veterans His Her Holiness Excellency H.E.
    """.split()
}
# Capitalised at the start of a title but never part of a name.
FUNCTION_WORDS = {"on", "in", "at", "the", "of", "a", "an", "and", "for", "with", "by", "to", "from", "about", "after", "before", "during", "as"}
# Words that make a "WORD:" line opening a caption, not a speaker label.
NOT_LABELS = {"learn", "more", "read", "note", "update", "watch", "source", "photo", "video", "see", "also", "breaking",
              "important", "attention", "details", "details", "link", "links", "info", "today", "live", "quote", "subscribe",
              "follow", "join", "download", "programme", "program", "agenda", "schedule", "venue", "time", "date", "p.s"}
# Last words of institutions and events, which look like names: "… Partnership Forum".
NOT_NAME_ENDINGS = {
    "forum", "committee", "council", "conference", "day", "night", "emirates", "federation", "objectives", "worker",
    "workers", "partnership", "agreement", "organization", "organisation", "union", "assembly", "summit", "ministry",
    "service", "group", "agency", "channel", "programme", "program", "prize", "award", "week", "year", "festival",
    "university", "institute", "school", "academy", "museum", "theatre", "ballet", "bank", "fund", "party", "army",
    "front", "republic", "kingdom", "states", "islands", "region", "oblast", "city", "square", "street", "station",
}
PARTICLES = {"von", "van", "de", "der", "den", "da", "di", "du", "la", "le", "zu", "al", "el", "bin", "ibn", "y", "dos", "das", "del", "ter"}
# Labels that stand for a role in the exchange, not for a person.
ANSWER_LABELS = {"answer", "a", "ответ", "svar", "antwort", "réponse", "reponse", "respuesta", "risposta", "resposta", "antwoord", "vastaus", "odpowiedź", "відповідь"}
QUESTION_LABELS = {"question", "q", "вопрос", "fråga", "frage", "pregunta", "domanda", "pergunta", "vraag", "kysymys", "pytanie", "питання", "spørgsmål", "spørsmål"}

_TOKEN = re.compile(r"[\w.'’\-]+")


def _cap(tok: str) -> bool:
    return tok[:1].isupper()


def is_name(label: str, max_words: int = 6) -> bool:
    """A plausible person's name: 1..max_words words, each capitalised (or a particle like 'von')."""
    words = label.replace("\u00a0", " ").split()
    if not 1 <= len(words) <= max_words or len(label) > 80:
        return False
    if not _cap(words[0]) and words[0].lower() not in PARTICLES:
        return False
    for w in words:
        if not (_cap(w) or w.lower() in PARTICLES or w[:1] in "(["):
            return False
        if any(ch.isdigit() for ch in w):
            return False
    return True


def clean_name(label: str) -> str:
    """'Russian Foreign Ministry Spokeswoman Maria Zakharova' → 'Maria Zakharova'; keeps 'Dr.'."""
    label = " ".join(label.replace("\u00a0", " ").split()).strip(" ,;:#")
    label = label.replace("#", "")
    if label.isupper() and len(label) > 3:
        label = label.title()  # "JANE DOE" → "Jane Doe"
    words = label.split()
    while len(words) > 1 and (words[0].lower().rstrip(".") in ROLE_WORDS) and words[0].rstrip(".") not in ("Dr", "Prof"):
        words.pop(0)
    return " ".join(words)


ROLE_PRECEDERS = {
    "minister", "spokeswoman", "spokesman", "spokesperson", "ambassador", "president", "representative",
    "chairman", "chairwoman", "chair", "envoy", "aide", "secretary", "director", "head", "russia", "affairs",
    "commissioner", "chancellor", "consul", "general", "premier", "leader", "deputy", "official",
    "utrikesminister", "talesperson", "presidenten", "bundeskanzler", "bundeskanzlerin", "bundesminister",
}


def name_from_title(title: str | None, min_score: int = 1) -> str | None:
    """The person a title is about: 'Foreign Minister Sergey Lavrov’s interview …' → 'Sergey Lavrov'.

    Candidates are runs of two or more capitalised words that are not roles or institutions; a run
    right after a role word ('Minister', 'Spokeswoman', 'of Russia') or ending in a possessive wins.
    None when no run qualifies."""
    if not title:
        return None
    title = title.replace("#", "")
    title = re.sub(r"(\w)\s*['’]\s?s\b", r"\1’s", title)  # "Ambarov’ s", "Lavrov ’s" → "…’s"
    ms = list(_TOKEN.finditer(title))
    toks = [m.group(0) for m in ms]
    best, best_score = None, 0
    i = 0
    while i < len(toks):
        run: list[str] = []
        j = i
        possessive = False
        while j < len(toks):
            tok = toks[j]
            bare = re.sub(r"['’]s$", "", tok)
            good = (
                _cap(bare)
                and bare.lower() not in ROLE_WORDS
                and bare.lower() not in FUNCTION_WORDS
                and not bare.isupper()
                and not any(ch.isdigit() for ch in bare)
                and len(bare) > 1
            )
            if not good or (run and title[ms[j - 1].end() : ms[j].start()].strip()):
                break  # not a name word, or punctuation between the words
            run.append(bare)
            j += 1
            if bare != tok:
                possessive = True
                break
        if len(run) >= 2:
            prev = re.sub(r"['’]s$", "", toks[i - 1]).lower() if i > 0 else ""
            after_role = prev in ROLE_PRECEDERS or prev in ROLE_WORDS or prev == "by"
            after_prep = prev in {"to", "in", "of", "at", "for", "from"}
            score = (2 if after_role else 0) + (1 if possessive else 0) + (1 if after_prep and len(run) > 2 else 0)
            if prev == "with":  # "talks with Mohamed Ali Nafti": the other party
                score = 0
            words = run
            if len(words) > 2 and prev in {"to", "in", "of", "at", "for", "from", "with"}:
                words = words[-2:]  # "to South Africa Roman Ambarov" → "Roman Ambarov"
            words = words[-3:]
            if words[-1].lower() in NOT_NAME_ENDINGS:
                score = 0
            if score > best_score:
                best, best_score = " ".join(words), score
        i = max(j, i + 1)
    return best if best_score >= min_score else None


def _surname(name: str) -> str:
    words = name.split()
    return words[-1].lower().rstrip(".") if words else ""


class SpeakerCanon:
    """One spelling per person within a file: 'Sergej Lavrov' after 'Sergey Lavrov' → 'Sergey Lavrov'."""

    def __init__(self) -> None:
        self.known: list[str] = []

    def add(self, name: str | None) -> None:
        if name and name not in self.known:
            self.known.append(name)

    def canon(self, name: str | None) -> str | None:
        if not name:
            return name
        sur = _surname(name)
        first = " ".join(name.split()[:-1]).lower()
        for k in self.known:
            ks = _surname(k)
            if not ks:
                continue
            same_surname = ks == sur or (len(sur) > 3 and (ks.startswith(sur) or sur.startswith(ks)) and abs(len(ks) - len(sur)) <= 1)
            if not same_surname:
                continue
            kfirst = " ".join(k.split()[:-1]).lower()
            if not first or not kfirst or SequenceMatcher(None, first, kfirst).ratio() >= 0.6:
                return k if len(k.split()) >= len(name.split()) else name
        self.add(name)
        return name
