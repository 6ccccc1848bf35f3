"""Evaluate answers against questions with gold quotes (the format of ../shared/dev-questions.jsonl).

Per kind and language: hit@1, hit@3 (a returned quote overlaps a gold span), MRR, language match
(quote in `quote_lang`), speaker match, verbatim rate, abstention precision/recall.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def gold_spans(item: dict, corpus: Path) -> list[tuple[str, int, int]]:
    spans = []
    for g in item.get("gold", []):
        path = (corpus / g["source"]).resolve()
        text = path.read_text(encoding="utf-8")
        at = text.find(g["text"])
        if at < 0:
            raise SystemExit(f"gold text of {item['id']} not found in {g['source']}")
        spans.append((str(path), at, at + len(g["text"])))
    return spans


def overlaps(q: dict, spans) -> bool:
    src = str(Path(q["source"]).resolve())
    return any(src == s and q["start"] < e and b < q["end"] for s, b, e in spans)


def verbatim(q: dict) -> bool:
    try:
        return open(q["source"], encoding="utf-8").read()[q["start"] : q["end"]] == q["text"]
    except OSError:
        return False


def evaluate(engine, items: list[dict], corpus: Path) -> dict:
    rows = []
    for item in items:
        t0 = time.perf_counter()
        run = engine.quote if item["kind"] == "quote_lookup" else engine.ask
        answer = run(item["question"]).to_json()
        ms = (time.perf_counter() - t0) * 1000
        quotes = answer["quotes"]
        row = {"id": item["id"], "kind": item["kind"], "lang": item["lang"], "found": answer["found"],
               "detected": answer["language"], "ms": ms, "n_quotes": len(quotes),
               "verbatim": [verbatim(q) for q in quotes], "chars3": sum(len(q["text"]) for q in quotes[:3])}
        if item["kind"] != "unanswerable":
            spans = gold_spans(item, corpus)
            ranks = [i for i, q in enumerate(quotes) if overlaps(q, spans)]
            row["rank"] = ranks[0] + 1 if ranks else None
            files = {s for s, _, _ in spans}
            row["doc_hit3"] = any(str(Path(q["source"]).resolve()) in files for q in quotes[:3])
            row["lang_match"] = bool(quotes) and quotes[0]["language"] == item.get("quote_lang")
            if item.get("speaker"):
                hit = quotes[ranks[0]] if ranks else (quotes[0] if quotes else None)
                row["speaker_match"] = bool(hit) and (hit.get("speaker") == item["speaker"])
            row["top"] = quotes[0]["text"][:100] if quotes else None
        rows.append(row)
    return {"rows": rows, "groups": summarise(rows)}


def summarise(rows: list[dict]) -> dict:
    groups = defaultdict(list)
    for r in rows:
        groups[f"{r['kind']}/{r['lang']}"].append(r)
        groups[r["kind"]].append(r)
        groups["answerable" if r["kind"] != "unanswerable" else "unanswerable/all"].append(r)
        groups["all"].append(r)
    out = {}
    for name, rs in sorted(groups.items()):
        ans = [r for r in rs if r["kind"] != "unanswerable"]
        un = [r for r in rs if r["kind"] == "unanswerable"]
        all_v = [v for r in rs for v in r["verbatim"]]
        abstained = [r for r in rs if not r["found"]]
        g = {"n": len(rs)}
        if ans:
            g["hit@1"] = sum(1 for r in ans if r["rank"] == 1) / len(ans)
            g["hit@3"] = sum(1 for r in ans if r["rank"] and r["rank"] <= 3) / len(ans)
            g["doc_hit@3"] = sum(1 for r in ans if r["doc_hit3"]) / len(ans)
            g["chars_top3"] = sum(r["chars3"] for r in ans) / len(ans)
            g["mrr"] = sum(1 / r["rank"] for r in ans if r["rank"]) / len(ans)
            g["language_match"] = sum(1 for r in ans if r["lang_match"]) / len(ans)
            sp = [r for r in ans if "speaker_match" in r]
            if sp:
                g["speaker_match"] = sum(1 for r in sp if r["speaker_match"]) / len(sp)
        g["verbatim_rate"] = (sum(all_v) / len(all_v)) if all_v else None
        if un or abstained:
            correct = sum(1 for r in abstained if r["kind"] == "unanswerable")
            g["abstention_precision"] = correct / len(abstained) if abstained else None
            g["abstention_recall"] = correct / len(un) if un else None
        g["latency_ms_p50"] = sorted(r["ms"] for r in rs)[len(rs) // 2]
        out[name] = g
    return out


# --------------------------------------------------------------------------- the LangChain baseline
BASELINE_KEYS = ["n", "hit@1", "hit@3", "doc_hit@3", "mrr", "language_match", "chars_top3", "latency_ms_p50"]


def evaluate_baseline(items: list[dict], corpus: Path, settings=None, cache_dir: Path | None = None,
                      paths: list[Path] | None = None) -> dict:
    """The baseline over `paths` (default: every transcript under `corpus`) with the model `settings`
    select, scored on `items` by `evaluate` (it never abstains; a quote is a whole chunk)."""
    from dataclasses import asdict

    from .baseline import BaselineStore

    store = BaselineStore.build(paths or [corpus], settings=settings, cache_dir=cache_dir)
    result = evaluate(store, items, corpus)
    return {"rows": result["rows"], "groups": result["groups"], "build": asdict(store.info)}


def print_groups(groups: dict, keys: list[str], title: str | None = None) -> None:
    if title:
        print(f"\n{title}")
    print("group".ljust(26) + "".join(k[:10].rjust(11) for k in keys))
    for name, g in groups.items():
        cells = []
        for k in keys:
            v = g.get(k)
            cells.append(("-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))).rjust(11))
        print(name.ljust(26) + "".join(cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("questions", type=Path)
    ap.add_argument("--index", type=Path, help="index folder (default: the configured one)")
    ap.add_argument("--corpus", type=Path, help="folder the gold sources are relative to (default: beside the questions)")
    ap.add_argument("--out", type=Path, default=REPO / "bench-out" / "eval.json")
    ap.add_argument("--baseline", action="store_true",
                    help="also score the LangChain baseline (same model, same corpus) in this run")
    args = ap.parse_args()
    from bot.answer import Engine

    items = [json.loads(line) for line in args.questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus = args.corpus or (args.questions.parent / "corpus")
    engine = Engine.open(index_dir=args.index)
    result = evaluate(engine, items, corpus)
    if args.baseline:
        base = evaluate_baseline(items, corpus, settings=engine.settings)
        result["baseline_groups"], result["baseline_rows"] = base["groups"], base["rows"]
        result["baseline_build"] = base["build"]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1))
    keys = ["n", "hit@1", "hit@3", "doc_hit@3", "mrr", "language_match", "speaker_match", "verbatim_rate",
            "abstention_precision", "abstention_recall", "chars_top3", "latency_ms_p50"]
    print("group".ljust(26) + "".join(k[:10].rjust(11) for k in keys))
    for name, g in result["groups"].items():
        cells = []
        for k in keys:
            v = g.get(k)
            cells.append(("-" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))).rjust(11))
        print(name.ljust(26) + "".join(cells))
    if args.baseline:
        b = result["baseline_build"]
        print_groups(result["baseline_groups"], BASELINE_KEYS,
                     "baseline (LangChain: RecursiveCharacterTextSplitter(1000, 200) + "
                     f"HuggingFaceEmbeddings + FAISS, k=3; {b['chunks']} chunks, "
                     f"{'loaded from cache' if b['from_cache'] else 'built in this run'})")
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
