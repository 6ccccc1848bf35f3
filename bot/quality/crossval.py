"""Cross-validated answer quality of a learnt ranking stage, beside the hand-set one, in one run.

    python -m bot.quality.crossval QUESTIONS.jsonl [--index DIR] [--folds 5] [--ablate NAME]

Questions are split into folds grouped by the source file of their gold quote (one statement never
sits on both sides; questions with no gold are spread over the folds). For each fold the ranker is
fitted on the other folds' questions and the held-out questions are answered by the whole engine
with it. The table gives the rule ranker and the cross-validated learnt ranker side by side.
`fit_all` fits on every question (what `onrecord calibrate` ships); its in-sample numbers are never
a result.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from bot.answer.asked import Asked
from bot.answer.features import candidate_features
from bot.answer.learnt import (CANDIDATE_FEATURES, MAX_DECLINED, LearntRanker, RankerParams, candidate_features_for,
                               fit)
from bot.answer.rank import RuleRanker
from bot.answer.retrieve import retrieve

from .evaluate import REPO, evaluate, gold_spans, summarise

ABLATIONS = {
    # name: settings of index.settings.AnswerSettings that turn one component off
    "fulltext": {"fts_weight": 0.0},
    "names": {"names_check": False},
    "speaker": {"speaker_passages": 0, "speaker_bonus": 0.0},
    "other_language_bonus": {"other_language_bonus": 0.0},
    "sentence_choice": {"sentence_choice": False},
    "repost_folding": {"fold_reposts": False},
}


def load_items(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def statement_groups(items: list[dict]) -> dict[int, int]:
    """Question -> its statement (questions whose gold quotes share a source file, or one statement in
    two languages); questions with no gold are their own."""
    return dict(enumerate(_roots(items)))


def _roots(items: list[dict]) -> list[int]:
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_of: dict[str, int] = {}
    for i, it in enumerate(items):
        for g in it.get("gold") or []:
            for key in (g["source"], "name:" + Path(g["source"]).name):
                if key in first_of:
                    parent[root(i)] = root(first_of[key])
                else:
                    first_of[key] = i
    return [root(i) for i in range(len(items))]


def folds_of(items: list[dict], k: int) -> list[int]:
    """Fold of each item. Items sharing a gold source file, or whose sources are one statement in two
    languages (the same file name in sibling folders: 1tv-news-ru/X.txt and 1tv-news-en-mt/X.txt),
    land in one fold (largest groups first, to the smallest fold); no-gold items go round-robin."""
    roots = _roots(items)
    groups: dict[int, list[int]] = {}
    loose = []
    for i, it in enumerate(items):
        if it.get("gold"):
            groups.setdefault(roots[i], []).append(i)
        else:
            loose.append(i)
    size = [0] * k
    out = [0] * len(items)
    for members in sorted(groups.values(), key=lambda m: (-len(m), m[0])):
        f = min(range(k), key=lambda j: (size[j], j))
        for i in members:
            out[i] = f
        size[f] += len(members)
    for n, i in enumerate(loose):
        out[i] = n % k
    return out


def _labels(store, hits, spans) -> np.ndarray:
    """1 where a candidate passage, or its aligned sentences in another language, overlaps a gold span."""
    y = []
    for h in hits:
        p = store.passage(h.passage_id)
        doc = store.document(p.doc_id) if p else None
        hit = False
        if doc is not None:
            src = str(Path(doc.source).resolve())
            hit = any(src == s and p.start < e and b < p.end for s, b, e in spans)
            if not hit:
                for s in store.aligned_sentences(x.id for x in store.sentences_of_passage(h.passage_id)):
                    other = store.document(s.doc_id)
                    osrc = str(Path(other.source).resolve()) if other else ""
                    if any(osrc == g and s.start < e and b < s.end for g, b, e in spans):
                        hit = True
                        break
        y.append(1 if hit else 0)
    return np.asarray(y, dtype=np.int64)


def candidate_table(engine, items: list[dict], corpus: Path):
    """Features and labels of every ranked question's candidates (quote lookups use no ranker)."""
    xs, ys, qs, answerable = [], [], [], {}
    for i, it in enumerate(items):
        if it["kind"] == "quote_lookup":
            continue
        q, lang, _ = engine.prepare(it["question"])
        if q.empty:
            continue
        asked = Asked(q.text, lang, engine.vectors.query(q.text))
        spans = gold_spans(it, corpus) if it["kind"] != "unanswerable" else []
        with engine.live.reader() as store:
            hits = retrieve(store, asked, engine.tuning, engine.speakers)
            x = candidate_features(store, asked, hits, engine.tuning, engine.vectors, engine.settings.languages,
                                   getattr(engine, "reranker", None))
            y = _labels(store, hits, spans)
        answerable[i] = it["kind"] != "unanswerable"
        xs.append(x)
        ys.append(y)
        qs.append(np.full(len(y), i))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(qs), answerable


INNER_FOLDS = 5  # the answer model reads out-of-fold candidate scores (bot.answer.learnt.fit)


def fit_on(table, keep: set[int], model: str, reranker=None, drop: tuple[str, ...] = (),
           groups: dict[int, int] | None = None, inner_folds: int = INNER_FOLDS,
           max_declined: float = MAX_DECLINED) -> RankerParams:
    """`reranker`: the engine's cross-encoder (or None); its score is read when one is set. `drop`:
    candidate features the fitted model does not read. `groups`: question -> statement (statement_groups)."""
    x, y, q, answerable = table
    mask = np.isin(q, list(keep))
    return fit(x[mask], y[mask], q[mask], {i: a for i, a in answerable.items() if i in keep}, model,
               features=candidate_features_for(reranker, drop), groups=groups, inner_folds=inner_folds,
               max_declined=max_declined)


def crossvalidate(engine, items: list[dict], corpus: Path, k: int = 5, table=None, drop: tuple[str, ...] = (),
                  inner_folds: int = INNER_FOLDS, max_declined: float = MAX_DECLINED) -> dict:
    """`table`: the candidate table of `items` when already computed (it is the costly part); `drop`:
    candidate features left out of the fitted models."""
    folds = folds_of(items, k)
    groups = statement_groups(items)
    table = table if table is not None else candidate_table(engine, items, corpus)
    rule = engine.ranker
    rows = []
    per_fold = []
    try:
        for f in range(k):
            train = {i for i in range(len(items)) if folds[i] != f}
            reranker = getattr(engine, "reranker", None)
            params = fit_on(table, train, engine.embedder.name, reranker, drop, groups, inner_folds, max_declined)
            engine.ranker = LearntRanker(params, engine.tuning, engine.vectors, engine.settings.languages, reranker)
            test = [it for i, it in enumerate(items) if folds[i] == f]
            rows += evaluate(engine, test, corpus)["rows"]
            per_fold.append({"fold": f, "test": len(test), "threshold": params.threshold})
    finally:
        engine.ranker = rule
    return {"rows": rows, "groups": summarise(rows), "folds": per_fold}


def fit_all(engine, items: list[dict], corpus: Path, table=None, answer_settings: dict | None = None,
            drop: tuple[str, ...] = (), inner_folds: int = INNER_FOLDS,
            max_declined: float = MAX_DECLINED) -> RankerParams:
    """`answer_settings`: the model's cosine-scale answer settings the engine ran with, kept in the file."""
    table = table if table is not None else candidate_table(engine, items, corpus)
    params = fit_on(table, set(range(len(items))), engine.embedder.name, getattr(engine, "reranker", None), drop,
                    statement_groups(items), inner_folds, max_declined)
    params.fitted_on = {"questions": len(items), "candidates": int(len(table[1])), "positives": int(table[1].sum())}
    params.answer_settings = dict(answer_settings or {})
    return params


def model_settings_in_use(engine) -> dict:
    """The cosine-scale answer settings the engine's calibration brought (bot/answer/learnt.py), as the
    engine runs with them: what a new calibration for the same model keeps."""
    from bot.answer.learnt import LearntRanker

    brought = engine.ranker.params.answer_settings if isinstance(engine.ranker, LearntRanker) else {}
    return {k: getattr(engine.tuning, k) for k in brought}


def parse_answer_settings(pairs: list[str]) -> dict:
    """NAME=VALUE pairs of index.settings.AnswerSettings fields, typed by the field."""
    from pydantic import TypeAdapter

    from index.settings import AnswerSettings

    out = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or name not in AnswerSettings.model_fields:
            raise SystemExit(f"--answer-setting {pair!r}: expected NAME=VALUE with NAME a field of AnswerSettings")
        out[name] = TypeAdapter(AnswerSettings.model_fields[name].annotation).validate_python(value)
    return out


def with_settings(engine, overrides: dict):
    """The engine with some answer settings changed (a component turned off), ranker rebuilt."""
    engine.tuning = engine.tuning.model_copy(update=overrides)
    engine.settings = engine.settings.model_copy(update={"answers": engine.tuning})
    engine.assembler.tuning = engine.tuning
    engine.ranker = RuleRanker(engine.tuning, engine.vectors, engine.settings.languages)
    return engine


KEYS = ["n", "hit@1", "hit@3", "doc_hit@3", "language_match", "abstention_precision", "abstention_recall",
        "chars_top3"]


def table_text(columns: dict[str, dict]) -> str:
    """Groups down, (system, metric) across."""
    names = list(columns)
    groups = sorted({g for c in columns.values() for g in c})
    head = "group".ljust(24) + "".join(f"{n[:9]:>9}:{k[:8]:<8}" for n in names for k in KEYS[1:4] + KEYS[5:7])
    lines = [head]
    for g in groups:
        cells = []
        for n in names:
            for k in KEYS[1:4] + KEYS[5:7]:
                v = columns[n].get(g, {}).get(k)
                cells.append(("-" if v is None else f"{v:.2f}").rjust(18))
        lines.append(f"{g} (n={columns[names[0]].get(g, {}).get('n', '?')})".ljust(24) + "".join(cells))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("questions", type=Path)
    ap.add_argument("--index", type=Path)
    ap.add_argument("--corpus", type=Path)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--ablate", action="append", default=[], choices=sorted(ABLATIONS),
                    help="turn a component off (repeatable)")
    ap.add_argument("--drop-feature", action="append", default=[], choices=CANDIDATE_FEATURES, metavar="FEATURE",
                    help="a candidate feature the learnt ranker does not read (repeatable): what it buys, "
                         "cross-validated; kept in a calibration written with --calibrate-out")
    ap.add_argument("--no-rules", action="store_true", help="skip the rule ranker's column (ablation runs)")
    ap.add_argument("--max-declined", type=float, default=MAX_DECLINED,
                    help="share of the answerable fitting questions the answer threshold may decline")
    ap.add_argument("--inner-folds", type=int, default=INNER_FOLDS,
                    help="folds of the fitting questions whose out-of-fold candidate scores the answer model is "
                         "fitted on (0: their in-sample scores)")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "crossval.json")
    ap.add_argument("--answer-setting", action="append", default=[], metavar="NAME=VALUE",
                    help="an answer setting on this model's cosine scale (repeatable); kept in the calibration")
    ap.add_argument("--calibrate-out", type=Path, default=None,
                    help="also fit on every question and write the calibration here (what `onrecord calibrate` "
                         "writes), from the same candidate table")
    args = ap.parse_args()
    from bot.answer import Engine

    items = load_items(args.questions)
    corpus = args.corpus or (args.questions.parent / "corpus")
    engine = Engine.open(index_dir=args.index)
    model_settings = {**model_settings_in_use(engine), **parse_answer_settings(args.answer_setting)}
    overrides = dict(model_settings)
    for name in args.ablate:
        overrides.update(ABLATIONS[name])
    if overrides:
        with_settings(engine, overrides)
    engine.ranker = RuleRanker(engine.tuning, engine.vectors, engine.settings.languages)
    rule = {"groups": {}, "rows": []} if args.no_rules else evaluate(engine, items, corpus)
    table = candidate_table(engine, items, corpus)
    drop = tuple(args.drop_feature)
    cv = crossvalidate(engine, items, corpus, args.folds, table, drop, args.inner_folds, args.max_declined)
    if args.calibrate_out:
        params = fit_all(engine, items, corpus, table, model_settings, drop, args.inner_folds, args.max_declined)
        params.save(args.calibrate_out)
        print(f"calibration ({params.fitted_on}): {args.calibrate_out}")
    result = {"ablate": args.ablate, "dropped_features": list(drop), "answer_settings": model_settings, "rule": rule["groups"], "learnt_cv": cv["groups"], "folds": cv["folds"],
              "rows": {"rule": rule["rows"], "learnt_cv": cv["rows"]}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    columns = {"learnt-cv": cv["groups"]} if args.no_rules else {"rule": rule["groups"], "learnt-cv": cv["groups"]}
    print(table_text(columns))
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
