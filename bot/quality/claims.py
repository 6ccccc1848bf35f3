"""Measure `onrecord check`: build claims from the real corpus with a fixed seed, index the part of the
corpus they are taken from, run the verdicts, report precision and recall per verdict.

    python -m bot.quality.claims --corpus ../shared/corpus --work /tmp/claims [--seed 7] [--out claims.json]

What is on record: the seed (en + sv), MFA posts, Europarl debates, Bundestag speeches, Russian TV
items with their English machine translations, and Russian TV items *without* their translation.
The claims (labels by construction):
- exact: a whole sentence on record, with its speaker;
- altered: a sentence with one or two words replaced (by words of another sentence), one or two
  words dropped, or a negation added;
- different_speaker: a whole sentence, claimed for another speaker of the record;
- out_of_context: the words after a negation ("we will not [send troops to ...]") or the main clause
  after an "if" clause, as they stand on record;
- not_found: sentences of transcripts of the same collections that were not indexed (same topics and
  speakers; any also found on record word for word in an indexed file is left out);
- translation_only: an English machine translation of a Russian item whose Russian original is
  indexed and whose translation is not.
Claims are in English, Swedish (the seed's Swedish version), Russian and German.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from index.store import all_documents
from index.textnorm import normalize

KINDS = ("exact", "altered", "different_speaker", "out_of_context", "not_found", "translation_only")
_NEG = {"en": ["not", "never", "no"], "sv": ["inte", "aldrig"], "ru": ["не", "никогда"], "de": ["nicht", "nie", "kein", "keine"]}
_COND = {"en": ["if"], "sv": ["om"], "ru": ["если"], "de": ["wenn", "falls"]}
_AUX = {"en": ["is", "are", "was", "were", "will", "can", "should", "would", "has", "have", "does", "do", "must"],
        "sv": ["är", "var", "har", "kan", "ska", "kommer", "blir", "vill", "måste"],
        "de": ["ist", "sind", "wird", "werden", "hat", "haben", "kann", "muss", "war"],
        "ru": []}
_NEG_WORD = {"en": "not", "sv": "inte", "ru": "не", "de": "nicht"}
_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Claim:
    text: str
    speaker: str | None
    expected: str
    language: str
    how: str  # how it was made
    source: str


def _files(corpus: Path, rng: random.Random):
    mfa = sorted((corpus / "mfa-telegram-en").glob("*.txt"))
    rng.shuffle(mfa)
    ep = sorted((corpus / "europarl-en").glob("*.txt"))
    rng.shuffle(ep)
    bt = sorted((corpus / "bundestag-de" / "speeches-19-146").glob("*.txt"))
    rng.shuffle(bt)
    ru = sorted((corpus / "1tv-news-ru").glob("*.txt"))
    rng.shuffle(ru)
    indexed = [corpus / "seed", *mfa[:40], *ep[:3], *bt[:15]]
    pairs, ru_only = ru[:12], ru[12:24]
    indexed += pairs + [corpus / "1tv-news-en-mt" / p.name for p in pairs] + ru_only
    held_out = {"en": mfa[40:80], "de": bt[15:35], "ru": ru[24:44]}
    translations = [corpus / "1tv-news-en-mt" / p.name for p in ru_only]
    return indexed, held_out, translations


def _usable(text: str, lo: int = 7, hi: int = 45) -> bool:
    n = len(_WORD.findall(text))
    return lo <= n <= hi and "\n" not in text.strip() and not text.strip().startswith(("<", "(", "[")) \
        and text.strip()[-1:] in ".!?»\"”" and sum(c.isdigit() for c in text) < 12


def _sentences_on_record(store) -> list[dict]:
    out = []
    for d in all_documents(store):
        text = store.document_text(d.id)
        for s in store.sentences_of_document(d.id):
            t = text[s.start : s.end]
            if _usable(t):
                out.append({"text": t.strip(), "speaker": s.speaker or d.speaker, "language": d.language,
                            "source": d.source})
    return out


def _sentences_of_files(paths: list[Path], language: str) -> list[dict]:
    from index.chunk import sentences_of
    from index.ingest import parse_file

    out = []
    for p in paths:
        try:
            docs = parse_file(p)
        except Exception:
            continue
        for d in docs:
            for s in sentences_of(d):
                t = d.text[s.start : s.end]
                if _usable(t):
                    out.append({"text": t.strip(), "speaker": s.speaker or d.speaker, "language": language,
                                "source": str(p)})
    return out


def _replace_words(text: str, n: int, vocab: list[str], rng: random.Random) -> str | None:
    words = list(_WORD.finditer(text))
    cands = [m for m in words[1:] if len(m.group()) >= 4 and not m.group()[0].isupper()]
    if len(cands) < n:
        return None
    out = text
    for m in sorted(rng.sample(cands, n), key=lambda m: -m.start()):
        new = rng.choice([w for w in vocab if w.lower() != m.group().lower()])
        out = out[: m.start()] + new + out[m.end() :]
    return out


def _drop_words(text: str, n: int, rng: random.Random) -> str | None:
    words = list(_WORD.finditer(text))
    if len(words) < 8:
        return None
    start = rng.randrange(1, len(words) - n)
    a, b = words[start].start(), words[start + n - 1].end()
    return re.sub(r"\s{2,}", " ", text[:a] + text[b:]).replace(" ,", ",").replace(" .", ".")


def _add_negation(text: str, lang: str, rng: random.Random) -> str | None:
    words = list(_WORD.finditer(text))
    if lang == "ru":
        cands = [m for m in words[1:-1] if len(m.group()) >= 5 and m.group().lower() not in ("не", "нет")]
        if not cands or any(m.group().lower() == "не" for m in words):
            return None
        m = rng.choice(cands)
        return text[: m.start()] + "не " + text[m.start() :]
    if any(m.group().lower() in _NEG[lang] for m in words):
        return None
    for m in words:
        if m.group().lower() in _AUX[lang]:
            return text[: m.end()] + " " + _NEG_WORD[lang] + text[m.end() :]
    return None


def _after_cue(text: str, lang: str) -> tuple[str, str] | None:
    """Words on record that a negation or condition governs: after "not" to the end of the clause, or the
    main clause after an "if" clause."""
    words = list(_WORD.finditer(text))
    low = [m.group().lower() for m in words]
    for i, w in enumerate(low):
        if w in _NEG[lang] and i + 7 <= len(words):
            end = len(text)
            for j in range(i + 1, len(words)):
                if low[j] in _NEG[lang] or low[j] in _COND[lang]:
                    end = words[j].start()
                    break
            claim = text[words[i + 1].start() : end].rstrip(" ,;:–—-")
            if len(_WORD.findall(claim)) >= 6:
                return claim, "after a negation"
    if low and low[0] in _COND[lang] and "," in text:
        claim = text[text.index(",") + 1 :].strip()
        if len(_WORD.findall(claim)) >= 6 and not any(x in _NEG[lang] + _COND[lang] for x in normalize(claim).split()):
            return claim, "main clause after a condition"
    return None


def build_claims(store, corpus: Path, held_out: dict, translations: list[Path], rng: random.Random) -> list[Claim]:
    from bot.factcheck.verdict import surname_matches

    on_record = _sentences_on_record(store)
    by_lang = defaultdict(list)
    for s in on_record:
        by_lang[s["language"]].append(s)
    vocab = defaultdict(list)
    for s in on_record:
        vocab[s["language"]] += [w for w in _WORD.findall(s["text"]) if len(w) >= 4 and not w[0].isupper()]
    speakers = sorted({s["speaker"] for s in on_record if s["speaker"]})
    claims: list[Claim] = []

    def pick(lang: str, n: int, pred=lambda s: True) -> list[dict]:
        pool = [s for s in by_lang[lang] if pred(s)]
        return rng.sample(pool, min(n, len(pool)))

    plan = {"en": 16, "sv": 5, "ru": 5, "de": 4}
    for lang, n in plan.items():
        for s in pick(lang, n):
            claims.append(Claim(s["text"], s["speaker"], "exact", lang, "whole sentence", s["source"]))
    for lang, n in {"en": 24, "sv": 6, "ru": 6, "de": 4}.items():
        made = 0
        for s in pick(lang, n * 4):
            if made >= n:
                break
            how = ["replace 1", "replace 2", "drop 1", "drop 2", "negation"][made % 5]
            if how.startswith("replace"):
                text = _replace_words(s["text"], int(how[-1]), vocab[lang], rng)
            elif how.startswith("drop"):
                text = _drop_words(s["text"], int(how[-1]), rng)
            else:
                text = _add_negation(s["text"], lang, rng)
            if text and normalize(text) != normalize(s["text"]):
                claims.append(Claim(text, s["speaker"], "altered", lang, how, s["source"]))
                made += 1
    for lang, n in {"en": 14, "de": 4, "sv": 2}.items():
        for s in pick(lang, n, lambda s: bool(s["speaker"])):
            others = [p for p in speakers if not surname_matches(p, s["speaker"]) and not surname_matches(s["speaker"], p)]
            if others:
                claims.append(Claim(s["text"], rng.choice(others), "different_speaker", lang, "another speaker",
                                    s["source"]))
    for lang, n in {"en": 14, "sv": 3, "ru": 3, "de": 3}.items():
        made = 0
        for s in rng.sample(by_lang[lang], len(by_lang[lang])):
            if made >= n:
                break
            cut = _after_cue(s["text"], lang)
            if cut:
                claims.append(Claim(cut[0], s["speaker"], "out_of_context", lang, cut[1], s["source"]))
                made += 1
    recorded = " \n ".join(normalize(s["text"]) for s in on_record)
    all_text = normalize(" ".join(store.document_text(d.id) for d in all_documents(store)))
    for lang, n in {"en": 15, "ru": 5, "de": 5}.items():
        pool = _sentences_of_files(held_out[lang], lang)
        made = 0
        for s in rng.sample(pool, len(pool)):
            if made >= n:
                break
            if normalize(s["text"]) in all_text or normalize(s["text"]) in recorded:
                continue  # a repost: on record after all
            claims.append(Claim(s["text"], s["speaker"], "not_found", lang, "not indexed", s["source"]))
            made += 1
    pool = _sentences_of_files(translations, "en")
    for s in rng.sample(pool, min(10, len(pool))):
        claims.append(Claim(s["text"], None, "translation_only", "en", "translation of an indexed Russian item",
                            s["source"]))
    return claims


def scores(rows: list[dict]) -> dict:
    per = {}
    for k in KINDS:
        tp = sum(1 for r in rows if r["expected"] == k and r["got"] == k)
        predicted = sum(1 for r in rows if r["got"] == k)
        actual = sum(1 for r in rows if r["expected"] == k)
        per[k] = {"claims": actual, "predicted": predicted,
                  "precision": round(tp / predicted, 3) if predicted else None,
                  "recall": round(tp / actual, 3) if actual else None}
    return per


def table(rows: list[dict]) -> str:
    per = scores(rows)
    fmt = lambda v: "–" if v is None else f"{v:.2f}"
    lines = ["| verdict | claims | precision | recall |", "|---|---|---|---|"]
    for k, v in per.items():
        lines.append(f"| {k} | {v['claims']} | {fmt(v['precision'])} | {fmt(v['recall'])} |")
    acc = sum(1 for r in rows if r["expected"] == r["got"]) / max(1, len(rows))
    lines.append(f"| **all** | {len(rows)} | accuracy {acc:.2f} | |")
    langs = sorted({r["language"] for r in rows})
    lines.append("")
    lines.append("| claim language | " + " | ".join(langs) + " |")
    lines.append("|---|" + "---|" * len(langs))
    lines.append("| claims / correct | " + " | ".join(
        f"{sum(1 for r in rows if r['language'] == l)} / {sum(1 for r in rows if r['language'] == l and r['expected'] == r['got'])}"
        for l in langs) + " |")
    return "\n".join(lines)


def confusion(rows: list[dict]) -> str:
    c = Counter((r["expected"], r["got"]) for r in rows)
    lines = ["| expected \\ got | " + " | ".join(KINDS) + " |", "|---|" + "---|" * len(KINDS)]
    for e in KINDS:
        lines.append(f"| {e} | " + " | ".join(str(c.get((e, g), 0)) for g in KINDS) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=Path(__file__).resolve().parents[2].parent / "shared" / "corpus")
    ap.add_argument("--work", type=Path, required=True, help="Folder for the index (reused when present).")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None, help="Write the claims, verdicts and scores as JSON here.")
    args = ap.parse_args(argv)

    from bot.answer import Engine
    from bot.factcheck.verdict import check
    from index.indexer import run_index
    from index.settings import get_settings

    rng = random.Random(args.seed)
    indexed, held_out, translations = _files(args.corpus, rng)
    settings = get_settings().model_copy(update={"index": args.work / "index"})
    t0 = time.time()
    run_index(indexed, settings, progress=False)
    engine = Engine.open(settings=settings)
    with engine.live.reader() as store:
        claims = build_claims(store, args.corpus, held_out, translations, rng)
    print(f"indexed {len(indexed)} paths in {time.time() - t0:.0f} s; {len(claims)} claims", file=sys.stderr)
    rows = []
    t0 = time.time()
    for c in claims:
        v = check(engine, c.text, speaker=c.speaker)
        rows.append({**asdict(c), "got": v.kind, "share": round(v.share, 3), "cue": v.cue,
                     "record": (v.record or {}).get("text")})
    elapsed = time.time() - t0
    result = {"seed": args.seed, "claims": len(rows), "seconds_per_claim": round(elapsed / max(1, len(rows)), 3),
              "scores": scores(rows), "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(table(rows))
    print()
    print(confusion(rows))
    print(f"\n{elapsed / max(1, len(rows)):.2f} s per claim", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
