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
    Telegram On In At The Of A An And For With By To From
    """.split()
}
PARTICLES = {"von", "van", "de", "der", "den", "da", "di", "du", "la", "le", "zu", "al", "el", "bin", "ibn", "y", "dos", "das", "del", "ter"}
# Labels that stand for a role in the exchange, not for a person.
ANSWER_LABELS = {"answer", "a", "ответ", "svar", "antwort", "réponse", "reponse", "respuesta", "risposta", "resposta", "antwoord", "vastaus", "odpowiedź", "відповідь"}
QUESTION_LABELS = {"question", "q", "вопрос", "fråga", "frage", "pregunta", "domanda", "pergunta", "vraag", "kysymys", "pytanie", "питання", "spørgsmål", "spørsmål"}

_TOKEN = re.compile(r"[\w.'’\-]+")
_POSSESSIVE = re.compile(r"(?:'s|’s|’|')$")


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
    words = label.split()
    while len(words) > 1 and (words[0].lower().rstrip(".") in ROLE_WORDS) and words[0].rstrip(".") not in ("Dr", "Prof"):
        words.pop(0)
    return " ".join(words)


def name_from_title(title: str | None) -> str | None:
    """The person a title is about: 'Foreign Minister Sergey Lavrov’s interview …' → 'Sergey Lavrov'."""
    if not title:
        return None
    title = title.replace("#", "")
    toks = [(m.group(0), m.start()) for m in _TOKEN.finditer(title)]
    runs: list[list[tuple[str, int]]] = []
    run: list[tuple[str, int]] = []
    prev_lower = ""
    starts_after_prep: list[bool] = []
    for tok, pos in toks:
        bare = _POSSESSIVE.sub("", tok)
        good = (
            _cap(bare)
            and bare.lower() not in ROLE_WORDS
            and not bare.isupper()
            and not any(ch.isdigit() for ch in bare)
            and len(bare) > 1
        )
        if good:
            if not run:
                starts_after_prep.append(prev_lower in {"to", "in", "of", "at", "for", "from", "with"})
            run.append((tok, pos))
            if bare != tok:  # possessive ends the name
                runs.append(run)
                run = []
        else:
            if run:
                runs.append(run)
            run = []
            prev_lower = tok.lower()
            continue
        prev_lower = ""
    if run:
        runs.append(run)
    best = None
    for i, r in enumerate(runs):
        words = [_POSSESSIVE.sub("", t) for t, _ in r]
        if len(words) < 2:
            continue
        if len(words) > 2 and i < len(starts_after_prep) and starts_after_prep[i]:
            words = words[1:]
        if len(words) > 3:
            words = words[-3:]
        possessive = r[-1][0] != words[-1]
        cand = " ".join(words)
        if possessive:
            return cand
        if best is None:
            best = cand
    return best


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
