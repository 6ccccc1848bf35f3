"""The embedding model exported to ONNX for answering questions without torch (`index.question_encoder`).

`export(settings)` runs once per model (at `onrecord model prepare`, or `onrecord model export`): the
sentence-transformers model (transformer, pooling, dense layers, normalisation) is traced to ONNX, its
weights are quantised to 8 bits, and the result is kept only if it gives the float32 model's vectors:
the token ids of the check texts must be the ones sentence-transformers makes, and the mean cosine of
their vectors to float32's at least `MIN_MEAN_COSINE` (the bf16 indexing backend's bar), the lowest at
least `MIN_COSINE`. The variants are tried from the smallest and fastest:

- `int8`: every matrix multiply and the token embedding table in 8 bits (weights in 7), per channel (e5-small: 118 MB
  instead of 470, a question in ~7 ms instead of ~19 ms on one thread);
- `int8-embeddings`: only the token embedding table in 8 bits (most of a multilingual model's weights,
  and the one table a question reads a few rows of), the arithmetic in float32;
- `fp32`: the model as it is.

What was kept, and how close it came, is written beside it (`export.json`): the answering process reads
that file and never imports torch. The folder is keyed by the model's fingerprint, so a changed model
is exported again.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import ModelError
from .settings import Settings

log = logging.getLogger(__name__)

VARIANTS = ("int8", "int8-embeddings", "fp32")
MIN_MEAN_COSINE = 0.995  # as index.embedder.BF16_MAX_COSINE_LOSS: what indexing in bf16 is held to
MIN_COSINE = 0.99
MANIFEST = "export.json"
OPSET = 17

# Questions and passages in the languages served, short and long, for the export's check (besides the
# indexing backend's calibration texts).
CHECK_TEXTS = [
    "What did Lavrov say about the sanctions?",
    "Vad sa statsministern om Nato-ansökan?",
    "Was sagte die Kanzlerin über die Energiepreise?",
    "Что Захарова сказала о переговорах в Стамбуле?",
    "ceasefire",
    "We will never accept the annexation of Crimea, and the sanctions will stay in place until Russia "
    "withdraws its troops from the whole territory of Ukraine, including the occupied parts of Donetsk "
    "and Luhansk, and the international community will hold those responsible to account.",
    "Herr Präsident, meine sehr verehrten Damen und Herren! Wir debattieren heute über den Haushalt "
    "des Bundesministeriums für Bildung und Forschung, und ich will gleich zu Beginn sagen: Das ist ein "
    "guter Haushalt.",
    # what tokenizers differ on: repeated, leading, trailing and other spaces, joiners, compatibility forms
    "  two  spaces,\ttab and\u00a0no-break space ",
    "emoji 👍🏽 and a family 👨\u200d👩\u200d👧, ligature ﬁ, full-width ＡＢＣ, «quotes» — … №5",
]


@dataclass(frozen=True)
class Exported:
    """An export kept on disk: what `index.question_encoder` needs to run it."""

    folder: Path
    name: str  # the model's identity, as the index records it
    fingerprint: str | None
    variant: str  # one of VARIANTS
    model_file: str
    tokenizer_file: str
    max_length: int
    pad_id: int
    query_prompt: str
    passage_prompt: str
    dimension: int
    mean_cosine: float
    min_cosine: float
    seconds: float
    # "tokenizers" (tokenizer_file is the model's tokenizer.json) or "sentencepiece" (a SentencePiece model
    # written from it, with what tokenizer.json does around the charsmap: `replace`, then bos/eos ids)
    tokenizer_kind: str = "tokenizers"
    bos_id: int = -1
    eos_id: int = -1
    replace: list = field(default_factory=list)
    # the 8-bit token embedding table taken out of the graph (`token_table`, .npy, memory-mapped and read
    # row by row: a question touches a few of its 250k rows) and what the graph takes instead
    token_table: str | None = None
    token_input: str | None = None
    token_scale: float = 1.0
    token_zero_point: int = 0

    def manifest(self) -> dict:
        data = asdict(self)
        data["folder"] = str(self.folder)
        return data

    @classmethod
    def read(cls, folder: Path) -> "Exported | None":
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            data["folder"] = folder
            got = cls(**data)
        except (OSError, ValueError, TypeError):
            return None
        parts = [got.model_file, got.tokenizer_file, *([got.token_table] if got.token_table else [])]
        if not all((folder / part).is_file() for part in parts):
            return None
        return got


def export_folder(settings: Settings, name: str, fingerprint: str | None) -> Path:
    """Where the export of the model (name, fingerprint) lives: beside the prepared models, in
    MODELS_DIR/.onnx/NAME-FINGERPRINT (so an image that prepares its models at build time carries the
    export with them, whatever data folder it later runs with)."""
    key = f"{name}-{fingerprint}" if fingerprint else name
    return settings.model_dir / ".onnx" / key.replace("/", "_")


def find(settings: Settings) -> Exported | None:
    """The export of the model settings select, if one was made and passed its check (no torch)."""
    from .embedder import _model_identity, _resolve

    resolved = _resolve(settings)
    name, fingerprint = _model_identity(resolved.ref)
    return Exported.read(export_folder(settings, name, fingerprint))


def export(settings: Settings, force: bool = False, variants: tuple[str, ...] = VARIANTS) -> Exported:
    """Export the model settings select (see the module's docstring), trying `variants` in order; returns
    what was kept. Raises ModelError when none gives the float32 model's vectors."""
    from .embedder import CALIBRATION_TEXTS, _model_identity, _resolve

    resolved = _resolve(settings)
    name, fingerprint = _model_identity(resolved.ref)
    folder = export_folder(settings, name, fingerprint)
    if not force and (found := Exported.read(folder)) is not None and found.variant in variants:
        return found
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise ModelError(f"unknown ONNX variant {', '.join(unknown) or '(none)'}: use {', '.join(VARIANTS)}.")
    t0 = time.perf_counter()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # no "Loading weights" bar in set-up's output
    model = SentenceTransformer(resolved.ref, device="cpu", trust_remote_code=False,
                                model_kwargs={"use_safetensors": True}).eval()
    source = Path(resolved.ref).expanduser()
    tokenizer_json = source / "tokenizer.json"
    if not tokenizer_json.is_file():
        raise ModelError(f"{name}: no tokenizer.json in {source}; the ONNX question encoder needs the fast "
                         "tokenizer's file (set ONRECORD_QUESTION_BACKEND=torch).")
    prompts = model.prompts or {}
    query_prompt = prompts.get("query", "")
    passage_prompt = prompts.get("passage", prompts.get("document", ""))
    texts = [query_prompt + t for t in CHECK_TEXTS] + [passage_prompt + t for t in CALIBRATION_TEXTS + CHECK_TEXTS]
    with torch.inference_mode():
        reference = model.encode(texts, batch_size=8, normalize_embeddings=True, convert_to_numpy=True,
                                 show_progress_bar=False)
        ids = model.preprocess(texts)
    pad_id = int(model.tokenizer.pad_token_id if model.tokenizer.pad_token_id is not None else 0)
    max_length = int(model.max_seq_length)

    class Whole(torch.nn.Module):  # every module of the sentence-transformers model, ids in, vector out
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask):
            return self.inner({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    try:
        fp32 = work / "model-fp32.onnx"
        sample = model.preprocess(["query: a sample", "a longer sample text for the export"])
        _trace(torch, Whole(model).eval(), sample, fp32)
        del model
        tokens = _check_tokens(tokenizer_json, texts, ids, max_length, pad_id)
        compact = _compact_tokenizer(tokenizer_json, work / "tokenizer.spm", texts, tokens, max_length, pad_id)
        tried = []
        for variant in variants:
            path = fp32 if variant == "fp32" else work / f"model-{variant}.onnx"
            if variant != "fp32":
                _quantise(fp32, path, variant)
            got = _run(path, tokens)
            cos = np.sum(got * reference, axis=1)
            mean, low = float(cos.mean()), float(cos.min())
            tried.append(f"{variant}: mean cosine {mean:.5f}, lowest {low:.5f}")
            if mean >= MIN_MEAN_COSINE and low >= MIN_COSINE:
                break
        else:
            raise ModelError(f"{name}: no ONNX export gives the float32 model's vectors ({'; '.join(tried)}); "
                             "set ONRECORD_QUESTION_BACKEND=torch.")
        table = _split_token_table(path, work / "model-split.onnx", work / "token-table.npy", tokens, got)
        if table:
            path = work / "model-split.onnx"
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        for part in work.glob(path.name + "*"):  # the model, and its weights file where it has one
            os.replace(part, folder / part.name)
        if table:
            os.replace(work / "token-table.npy", folder / "token-table.npy")
        if compact:
            os.replace(work / "tokenizer.spm", folder / "tokenizer.spm")
        else:
            shutil.copyfile(tokenizer_json, folder / "tokenizer.json")
        kept = Exported(
            folder=folder, name=name, fingerprint=fingerprint, variant=variant, model_file=path.name,
            tokenizer_file="tokenizer.spm" if compact else "tokenizer.json", **(compact or {}), **(table or {}),
            max_length=max_length, pad_id=pad_id, query_prompt=query_prompt,
            passage_prompt=passage_prompt, dimension=int(reference.shape[1]), mean_cosine=round(mean, 6),
            min_cosine=round(low, 6), seconds=round(time.perf_counter() - t0, 1),
        )
        (folder / MANIFEST).write_text(json.dumps(kept.manifest(), indent=2) + "\n", encoding="utf-8")
        log.info("exported %s to ONNX (%s; %s)", name, variant, "; ".join(tried))
        return kept
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _trace(torch, whole, sample, dest: Path) -> None:
    """The model traced to ONNX: TorchScript's exporter first (one file; e5-small), else torch.export's
    (EmbeddingGemma's attention traces only that way; weights in a `.data` file beside it)."""
    args = (sample["input_ids"], sample["attention_mask"])
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["sentence_embedding"]}
    with torch.inference_mode(), _quiet():
        try:
            torch.onnx.export(whole, args, str(dest), **names, opset_version=OPSET, dynamo=False,
                              dynamic_axes={"input_ids": {0: "batch", 1: "tokens"},
                                            "attention_mask": {0: "batch", 1: "tokens"},
                                            "sentence_embedding": {0: "batch"}})
            return
        except Exception as exc:  # noqa: BLE001 - the other exporter is tried
            log.info("TorchScript export failed (%s); trying torch.export", exc)
    batch, tokens = torch.export.Dim("batch"), torch.export.Dim("tokens")
    with _quiet():
        torch.onnx.export(whole, args, str(dest), **names, dynamo=True, external_data=True,
                          dynamic_shapes=({0: batch, 1: tokens}, {0: batch, 1: tokens}))


def _check_tokens(tokenizer_json: Path, texts: list[str], expected: dict, max_length: int, pad_id: int):
    """The tokenizer file's ids and masks for the check texts, which must be sentence-transformers' own."""
    from .question_encoder import Tokens

    tokens = Tokens(tokenizer_json, max_length, pad_id)
    ids, mask = tokens(texts)
    want_ids, want_mask = expected["input_ids"].numpy(), expected["attention_mask"].numpy()
    if ids.shape != want_ids.shape or not (np.array_equal(ids, want_ids) and np.array_equal(mask, want_mask)):
        raise ModelError(f"{tokenizer_json}: its token ids differ from the model's own tokenizer's; "
                         "set ONRECORD_QUESTION_BACKEND=torch.")
    return ids, mask


def sentencepiece_model(tokenizer_json: Path) -> tuple[bytes, dict] | None:
    """A SentencePiece model with the pieces, scores and charsmap of a Unigram tokenizer.json, and what
    `index.question_encoder.SentencePieceTokens` needs besides (the replacements made before the charsmap,
    the bos/eos ids); None for any other tokenizer (BPE, WordPiece, byte fallback, other steps)."""
    import base64

    from sentencepiece import sentencepiece_model_pb2 as pb

    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    model, norm = spec.get("model") or {}, spec.get("normalizer") or {}
    pre, post = spec.get("pre_tokenizer") or {}, spec.get("post_processor") or {}
    steps = norm.get("normalizers", []) if norm.get("type") == "Sequence" else [norm]
    kinds = [s.get("type") for s in steps]
    if (model.get("type") != "Unigram" or model.get("byte_fallback") or "Precompiled" not in kinds
            or pre.get("type") != "Metaspace" or pre.get("prepend_scheme") != "always"
            or post.get("type") != "TemplateProcessing"):
        return None
    at = kinds.index("Precompiled")
    replace = []
    for s in steps[:at]:
        if s.get("type") != "Replace" or "String" not in s.get("pattern", {}):
            return None
        replace.append([s["pattern"]["String"], s["content"]])
    if [(s.get("type"), s.get("pattern"), s.get("content")) for s in steps[at + 1 :]] not in (
            [], [("Replace", {"Regex": " {2,}"}, " ")]):
        return None
    single = post.get("single", [])
    if len(single) != 3 or "Sequence" not in single[1]:
        return None
    specials = {k: v["ids"][0] for k, v in post.get("special_tokens", {}).items()}
    try:
        bos, eos = specials[single[0]["SpecialToken"]["id"]], specials[single[2]["SpecialToken"]["id"]]
    except KeyError:
        return None
    control = {a["id"] for a in spec.get("added_tokens", []) if a.get("special")}
    proto = pb.ModelProto()
    proto.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    proto.trainer_spec.vocab_size = len(model["vocab"])
    proto.trainer_spec.unk_id = int(model.get("unk_id") or 0)
    proto.trainer_spec.byte_fallback = False
    proto.normalizer_spec.name = "from-tokenizer-json"
    proto.normalizer_spec.precompiled_charsmap = base64.b64decode(steps[at]["precompiled_charsmap"])
    proto.normalizer_spec.add_dummy_prefix = True
    proto.normalizer_spec.remove_extra_whitespaces = False  # tokenizer.json collapses spaces after its charsmap
    proto.normalizer_spec.escape_whitespaces = True
    Piece = pb.ModelProto.SentencePiece
    for i, (text, score) in enumerate(model["vocab"]):
        p = proto.pieces.add()
        p.piece, p.score = text, float(score)
        p.type = Piece.UNKNOWN if i == proto.trainer_spec.unk_id else Piece.CONTROL if i in control else Piece.NORMAL
    return proto.SerializeToString(), {"tokenizer_kind": "sentencepiece", "bos_id": bos, "eos_id": eos,
                                       "replace": replace}


def _compact_tokenizer(tokenizer_json: Path, dest: Path, texts: list[str], tokens, max_length: int,
                       pad_id: int) -> dict | None:
    """The SentencePiece form of the tokenizer where it gives exactly tokenizer.json's ids on the check
    texts (written to `dest`); else None, and tokenizer.json is used as it is."""
    from .question_encoder import SentencePieceTokens

    try:
        made = sentencepiece_model(tokenizer_json)
        if made is None:
            return None
        dest.write_bytes(made[0])
        extra = made[1]
        spm = SentencePieceTokens(dest, max_length, pad_id, extra["bos_id"], extra["eos_id"], extra["replace"])
        ids, mask = spm(texts)
    except Exception as exc:  # noqa: BLE001 - the tokenizer.json path stays
        log.info("no SentencePiece form of %s: %s", tokenizer_json, exc)
        return None
    if ids.shape == tokens[0].shape and np.array_equal(ids, tokens[0]) and np.array_equal(mask, tokens[1]):
        return extra
    log.info("the SentencePiece form of %s gives other ids; using tokenizer.json", tokenizer_json)
    return None


def _quantise(src: Path, dest: Path, variant: str) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet():
        # weights in 7 bits (reduce_range): on a CPU without VNNI (AVX2 only) the 8-bit multiply of full-range
        # weights saturates its 16-bit sums (e5-small: lowest cosine 0.989 there, 0.995 with 7 bits), and an
        # export may be made on one CPU and run on another (a Docker image)
        quantize_dynamic(str(src), str(dest), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         op_types_to_quantize=["Gather"] if variant == "int8-embeddings" else None)


def _run(path: Path, tokens, feed=None) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ids, mask = tokens
    feed = feed or (lambda i, m: {"input_ids": i, "attention_mask": m})
    out = np.vstack([session.run(None, feed(ids[i : i + 1, : int(mask[i].sum())],
                                            mask[i : i + 1, : int(mask[i].sum())]))[0]
                     for i in range(len(ids))]).astype(np.float32)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def _split_token_table(src: Path, dest: Path, table_file: Path, tokens, want: np.ndarray) -> dict | None:
    """The 8-bit token embedding table out of the graph: the Gather that reads it and the
    DequantizeLinear after it (one scale, one zero point) give way to an input of float token vectors,
    which `index.question_encoder` reads from the table memory-mapped. Kept only if the vectors of the
    check texts are exactly the whole graph's (`want`); None otherwise, and the graph stays whole."""
    import onnx
    from onnx import numpy_helper

    from .question_encoder import TokenTable, token_vectors

    model = onnx.load(str(src))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    gather = next((n for n in graph.node if n.op_type == "Gather" and n.input[1] == "input_ids"
                   and n.input[0] in inits and len(inits[n.input[0]].dims) == 2), None)
    deq = gather and next((n for n in graph.node if n.op_type == "DequantizeLinear"
                           and n.input[0] == gather.output[0]), None)
    if deq is None or len(deq.input) != 3 or any(len(inits[x].dims) if x in inits else 1 for x in deq.input[1:]):
        return None
    table = numpy_helper.to_array(inits[gather.input[0]])
    scale = float(numpy_helper.to_array(inits[deq.input[1]]))
    zero = int(numpy_helper.to_array(inits[deq.input[2]]))
    dim = int(table.shape[1])
    graph.node.remove(gather)
    graph.node.remove(deq)
    for name in (gather.input[0], *deq.input[1:]):
        if name in inits and not any(name in n.input for n in graph.node):
            graph.initializer.remove(inits[name])
    graph.input.append(onnx.helper.make_tensor_value_info(deq.output[0], onnx.TensorProto.FLOAT,
                                                          ["batch", "tokens", dim]))
    onnx.save_model(model, str(dest))
    np.save(table_file, table)
    extra = {"token_table": table_file.name, "token_input": deq.output[0], "token_scale": scale,
             "token_zero_point": zero}
    rows = TokenTable(table_file)
    try:
        got = _run(dest, tokens, lambda i, m: {"input_ids": i, "attention_mask": m,
                                                extra["token_input"]: token_vectors(rows, i, scale, zero)})
    finally:
        rows.close()
    if not np.array_equal(got, want):
        log.info("the graph without its token table gives other vectors; kept whole")
        return None
    return extra


class _quiet:
    """Silences the exporter's and quantiser's warnings about tracing (they are expected)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")
        self._level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)

    def __exit__(self, *exc):
        logging.getLogger().setLevel(self._level)
        self._w.__exit__(*exc)
