"""Questions embedded without torch: the model's ONNX export (index/onnx_export.py) run by onnxruntime
(index/question_encoder.py), against the real model, the real index and a fresh process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index import onnx_export
from index.errors import ModelError
from index.question_encoder import OnnxEmbedder, is_onnx, load_question_embedder
from index.settings import Settings

from tests.conftest import _PREPARED_MODEL, DEV_QUESTIONS, REPO


@pytest.fixture(scope="session")
def export_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx-home")


@pytest.fixture(scope="session")
def exported(export_home):
    """The test model exported once per session, in its fast (8-bit) variant, as `model prepare` does."""
    return onnx_export.export(Settings(home=export_home, model=_PREPARED_MODEL), variants=("int8",))


@pytest.fixture(scope="session")
def onnx_embedder(exported):
    return OnnxEmbedder(exported)


@pytest.fixture(scope="session")
def questions() -> list[str]:
    return [json.loads(line)["question"] for line in DEV_QUESTIONS.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def test_the_export_records_what_it_kept_and_how_close_it_came(exported):
    assert exported.variant == "int8"
    assert (exported.folder / exported.model_file).is_file()
    manifest = json.loads((exported.folder / onnx_export.MANIFEST).read_text(encoding="utf-8"))
    assert manifest["mean_cosine"] >= onnx_export.MIN_MEAN_COSINE and manifest["min_cosine"] >= onnx_export.MIN_COSINE
    # 8 bits: about a quarter of the float32 weights
    assert (exported.folder / exported.model_file).stat().st_size < 0.3 * (Path(_PREPARED_MODEL) / "model.safetensors").stat().st_size
    # asked again, the kept export is returned, not made again
    again = onnx_export.export(Settings(home=exported.folder.parents[2], model=_PREPARED_MODEL), variants=("int8",))
    assert again == exported


def test_the_token_table_is_read_row_by_row_and_gives_the_whole_graphs_vectors(exported, questions, tmp_path):
    """The 8-bit token table lives beside the graph and is read from the file a row at a time; the
    vectors are exactly those of the graph that held it (which the export keeps for this test)."""
    import onnxruntime as ort

    from index.question_encoder import TokenTable

    assert exported.token_table and (exported.folder / exported.token_table).is_file()
    whole = np.load(exported.folder / exported.token_table)
    rows = TokenTable(exported.folder / exported.token_table)
    ids = np.array([[0, 5, 250000, 5, 2], [7, 7, 7, 1, 1]])
    assert np.array_equal(rows[ids], whole[ids])
    with pytest.raises(IndexError):
        rows[np.array([[whole.shape[0]]])]
    # the graph with its table, put back together from the export's own parts, gives the same vectors
    import onnx
    from onnx import helper, numpy_helper

    graph = onnx.load(str(exported.folder / exported.model_file))
    name = exported.token_input
    graph.graph.input.remove(next(i for i in graph.graph.input if i.name == name))
    graph.graph.initializer.extend([numpy_helper.from_array(whole, "table"),
                                    numpy_helper.from_array(np.array(exported.token_scale, np.float32), "scale"),
                                    numpy_helper.from_array(np.array(exported.token_zero_point, whole.dtype), "zero")])
    graph.graph.node.insert(0, helper.make_node("DequantizeLinear", ["gathered", "scale", "zero"], [name]))
    graph.graph.node.insert(0, helper.make_node("Gather", ["table", "input_ids"], ["gathered"]))
    onnx.save_model(graph, str(tmp_path / "whole.onnx"))
    session = ort.InferenceSession(str(tmp_path / "whole.onnx"), providers=["CPUExecutionProvider"])
    emb = OnnxEmbedder(exported)
    for q in questions[:10]:
        i, m = emb.tokens([exported.query_prompt + q])
        want = session.run(None, {"input_ids": i, "attention_mask": m})[0]
        got = emb.session.run(None, emb._feed(i, m))[0]
        assert np.array_equal(got, want), q


def test_the_compact_tokenizer_gives_the_models_token_ids(exported, questions, corpus):
    """The SentencePiece form of the fast model's tokenizer (a quarter of its memory) against the model's
    own tokenizer.json, on every dev question and 2,000 lines of real transcripts in four languages."""
    import random

    from index.question_encoder import SentencePieceTokens, Tokens

    compact = OnnxEmbedder(exported).tokens
    assert exported.tokenizer_kind == "sentencepiece" and isinstance(compact, SentencePieceTokens)
    full = Tokens(Path(_PREPARED_MODEL) / "tokenizer.json", exported.max_length, exported.pad_id)
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".txt", ".md", ".srt", ".vtt", ".json"))
    lines = [ln for f in random.Random(7).sample(files, 150)
             for ln in f.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    texts = [exported.query_prompt + q for q in questions] + [exported.passage_prompt + ln for ln in lines[:2000]]
    texts.append(exported.passage_prompt + "word " * 600)  # truncated at the model's length
    for i in range(0, len(texts), 50):
        got, want = compact(texts[i : i + 50]), full(texts[i : i + 50])
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1]), texts[i : i + 50]
    assert compact([texts[-1]])[0].shape[1] == exported.max_length


def test_question_vectors_are_the_float32_models_on_every_dev_question(onnx_embedder, questions):
    """Not just the export's own check texts: all 206 dev questions, in every language they are asked in."""
    from index.embedder import SentenceTransformerEmbedder

    fp32 = SentenceTransformerEmbedder(_PREPARED_MODEL, precision="fp32")
    want = fp32.embed_queries(questions)
    got = np.vstack([onnx_embedder.embed_queries([q]) for q in questions])
    cos = np.sum(want * got, axis=1)
    assert cos.mean() >= 0.995 and cos.min() >= 0.985, (cos.mean(), cos.min())
    assert onnx_embedder.name == fp32.name and onnx_embedder.dimension == fp32.dimension
    # passages get the passage prompt: not the question's vector
    assert float(onnx_embedder.embed_passages([questions[0]])[0] @ got[0]) < 0.999
    # a text's vector does not depend on what it is embedded with (8-bit activations are scaled per run)
    batch = onnx_embedder.embed_queries(questions[:20])
    assert np.array_equal(batch, got[:20])
    assert onnx_embedder.embed_queries([]).shape == (0, onnx_embedder.dimension)


def test_an_onnx_engine_answers_as_the_torch_engine_does(engine, small_index, settings_for, onnx_embedder):
    from bot.answer import Engine

    onnx_engine = Engine.open(settings=settings_for(small_index), embedder=onnx_embedder)
    try:
        asked = ["Vad sa Lavrov om vapenvila?", "What did Lavrov say about a truce?",
                 "Что Захарова сказала о кредите ЕС Киеву?"]
        for q in asked:
            a, b = engine.ask(q), onnx_engine.ask(q)
            assert b.quotes and b.language == a.language, q
            assert b.quotes[0].document_id == a.quotes[0].document_id, q
            assert b.quotes[0].language == a.quotes[0].language, q
            with onnx_engine.live.reader() as store:  # every quote is still a verbatim slice of its document
                for quote in b.quotes:
                    assert store.document_text(quote.document_id)[quote.start : quote.end] == quote.text
        assert not onnx_engine.ask("Vad sa Lavrov om pingvinerna i Antarktis?").quotes
    finally:
        onnx_engine.close()


def test_an_answering_process_with_the_export_never_imports_torch(exported, small_index):
    """`onrecord ask` as a user runs it, with the export kept in the data folder: the answer comes, and
    torch, transformers and sentence-transformers are never imported."""
    code = (
        "import sys\n"
        "from bot.answer import Engine\n"
        f"e = Engine.open(index_dir={str(small_index)!r})\n"
        "a = e.ask('What did Zakharova say about the Kyiv regime?')\n"
        "assert a.quotes, a\n"
        "print(type(e.embedder.inner).__name__, [m for m in ('torch', 'transformers', 'sentence_transformers') "
        "if m in sys.modules])\n"
    )
    env = {**os.environ, "ONRECORD_HOME": str(exported.folder.parents[2]), "ONRECORD_MODEL": _PREPARED_MODEL}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "OnnxEmbedder []"
    # the same with ONRECORD_QUESTION_BACKEND=torch: the indexing model answers
    env["ONRECORD_QUESTION_BACKEND"] = "torch"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].startswith("SentenceTransformerEmbedder [")


def test_the_question_backend_setting_picks_the_embedder(exported, monkeypatch):
    home = exported.folder.parents[2]
    base = Settings(home=home, model=_PREPARED_MODEL)
    assert is_onnx(load_question_embedder(base))  # auto: the kept 8-bit export
    assert is_onnx(load_question_embedder(base.model_copy(update={"question_backend": "onnx"})))
    assert not is_onnx(load_question_embedder(base.model_copy(update={"question_backend": "torch"})))
    # a torch precision asked for by name is torch's
    assert not is_onnx(load_question_embedder(base.model_copy(update={"backend": "fp32"})))
    with pytest.raises(ModelError, match="unknown question backend"):
        load_question_embedder(base.model_copy(update={"question_backend": "tensorflow"}))


def test_without_an_export_auto_answers_with_torch(tmp_path):
    emb = load_question_embedder(Settings(home=tmp_path, model=_PREPARED_MODEL))
    assert not is_onnx(emb)
    assert not (tmp_path / "models" / ".onnx").exists()  # auto never exports on its own


def test_updates_sharing_an_onnx_engine_index_with_their_own_model(exported, onnx_embedder, index_copy, corpus,
                                                                    settings_for):
    """The Slack server hands its engine's embedder to the index updates: an ONNX one cannot index (no
    token vectors for late sentence vectors), so the updates load the indexing model and the new
    transcript is answerable."""
    from bot.answer import Engine
    from index.updates import IndexUpdates

    settings = settings_for(index_copy)
    engine = Engine.open(settings=settings, embedder=onnx_embedder)
    try:
        updates = IndexUpdates.sharing(settings, engine.embedder)
        assert updates._embedder is None
        new = corpus / "europarl-en" / "ep-2007-03-14-ch014-00.txt"
        if not new.exists():
            new = sorted((corpus / "europarl-en").glob("*.txt"))[-1]
        summary = updates.sync([new], prune=False)
        assert summary.added == 1, summary
        assert not is_onnx(updates.embedder)
        with engine.live.reader() as store:  # the next question reads the new generation
            assert any(d.source.endswith(new.name) for d in store.documents(limit=1000))
    finally:
        engine.close()


def test_a_damaged_export_is_a_clear_error_and_nothing_is_half_used(exported, tmp_path):
    import shutil

    bad = tmp_path / "export"
    shutil.copytree(exported.folder, bad)
    (bad / exported.model_file).write_bytes(b"not an onnx model")
    broken = onnx_export.Exported.read(bad)
    assert broken is not None
    with pytest.raises(ModelError, match="cannot load the ONNX export"):
        OnnxEmbedder(broken)
    (bad / exported.token_table).unlink()
    assert onnx_export.Exported.read(bad) is None  # a part missing: as if there were no export
    (bad / onnx_export.MANIFEST).write_text("{", encoding="utf-8")
    assert onnx_export.Exported.read(bad) is None  # an unreadable manifest: as if there were no export


def test_an_unknown_variant_is_refused(tmp_path):
    with pytest.raises(ModelError, match="unknown ONNX variant"):
        onnx_export.export(Settings(home=tmp_path, model=_PREPARED_MODEL), variants=("int4",))
    assert not (tmp_path / "models" / ".onnx").exists()
