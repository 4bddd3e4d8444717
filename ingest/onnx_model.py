"""The ONNX file of a sentence-transformers model: made once from its packaged weights, cached by their hash.

Queries run the file in ONNX Runtime (`ingest.embedding.OnnxEmbedder`) and never import torch. Making
it needs torch and sentence-transformers, so that happens in a spawned child process, once per model
directory and precision: the first `regassist ingest` or `serve` pays a few seconds, and the process that
asked stays free of torch. Nothing is downloaded: the graph is traced from the weights on disk.

The file is named by a hash of every file in the model directory (weights, tokenizer, pooling config),
so fine-tuning a model or upgrading the package that ships it makes a new file instead of serving a
stale one. Hashing 90 MB on every question would cost more than the question, so the hash is
remembered per (path, size, modification time) beside the cached files.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ingest.errors import ConfigError

PRECISIONS = ("fp32", "int8")
# Bump when the exported graph changes (inputs, pooling, opset), so old files are not reused.
EXPORT_VERSION = "1"


def default_cache_dir() -> Path:
    """Where ONNX files are kept unless REGASSIST_MODEL_CACHE says otherwise: the user's cache folder."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "regassist" / "onnx"


def _files(model_dir: Path) -> list[Path]:
    return sorted(p for p in model_dir.rglob("*") if p.is_file() and not p.name.startswith("."))


def weights_hash(model_dir: Path, cache_dir: Path) -> str:
    """A hash of the model directory's contents, recomputed only when a file's size or mtime changes."""
    files = _files(model_dir)
    stamp = hashlib.sha256(
        "\n".join(f"{p.relative_to(model_dir)}\0{p.stat().st_size}\0{p.stat().st_mtime_ns}" for p in files).encode()
    ).hexdigest()
    memo = cache_dir / "hashes.json"
    known: dict[str, str] = {}
    if memo.exists():
        try:
            known = json.loads(memo.read_text())
        except ValueError:
            known = {}
    key = f"{model_dir.resolve()}:{stamp}"
    if key in known:
        return known[key]
    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(model_dir)).encode() + b"\0")
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    digest = h.hexdigest()
    known[key] = digest
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = memo.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(known, indent=1))
    os.replace(tmp, memo)
    return digest


def onnx_path(model_dir: Path, cache_dir: Path, precision: str) -> Path:
    """Where the ONNX file of this model directory and precision lives (it may not exist yet)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"Unknown embedding precision '{precision}'; choose one of {', '.join(PRECISIONS)}")
    digest = weights_hash(model_dir, cache_dir)[:16]
    return cache_dir / f"{model_dir.name}-{digest}-v{EXPORT_VERSION}-{precision}.onnx"


def ensure_onnx(model_dir: Path, cache_dir: Path, precision: str) -> Path:
    """The ONNX file for this model and precision, made now (in a child process) if it is not cached."""
    path = onnx_path(model_dir, cache_dir, precision)
    if path.exists():
        return path
    cache_dir.mkdir(parents=True, exist_ok=True)
    fp32 = onnx_path(model_dir, cache_dir, "fp32")
    # spawn: the child imports torch; the parent never does, and no native threads are forked.
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        if not fp32.exists():
            pool.submit(export_fp32, str(model_dir), str(fp32)).result()
        if precision == "int8" and not path.exists():
            pool.submit(quantize_int8, str(fp32), str(path)).result()
    return path


def export_fp32(model_dir: str, out: str) -> None:
    """Trace the model (transformer, pooling, normalisation) to ONNX with torch; runs in a child process."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ConfigError(f"Making the ONNX model needs torch and sentence-transformers ({exc})") from exc

    st = SentenceTransformer(model_dir, device="cpu", local_files_only=True)
    st.eval()

    class Encoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            features = {"input_ids": input_ids, "attention_mask": attention_mask, "token_type_ids": token_type_ids}
            return self.st(features)["sentence_embedding"]  # type: ignore[no-any-return]

    tokenize = getattr(st, "preprocess", st.tokenize)
    sample = tokenize(["An example sentence to trace the graph with.", "Another, a little longer, one."])
    args = (
        sample["input_ids"],
        sample["attention_mask"],
        sample.get("token_type_ids", torch.zeros_like(sample["input_ids"])),
    )
    axes = {0: "batch", 1: "tokens"}
    tmp = Path(f"{out}.{os.getpid()}.tmp")
    with torch.no_grad():
        torch.onnx.export(
            Encoder(),
            args,
            str(tmp),
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["sentence_embedding"],
            dynamic_axes={
                "input_ids": axes,
                "attention_mask": axes,
                "token_type_ids": axes,
                "sentence_embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, out)


def quantize_int8(fp32: str, out: str) -> None:
    """Dynamic int8 quantization of the fp32 file's MatMul weights, per output channel."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = Path(f"{out}.{os.getpid()}.tmp")
    quantize_dynamic(fp32, str(tmp), per_channel=True, weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])
    os.replace(tmp, out)


def prepare(backend: str, model: str, precision: str, cache_dir: Path | None) -> None:
    """Make the ONNX file now, if the onnx backend will need one and it is not cached. A command that is
    about to ingest calls this before it loads anything else: the child that makes the file imports torch
    and peaks at about 910 MB, and beside a process with Chroma loaded and a parse worker running, the
    first ingest's process tree passed 1 GB."""
    if backend != "onnx":
        return
    from ingest.model_files import resolve_model_path

    ensure_onnx(resolve_model_path(model), cache_dir or default_cache_dir(), precision)
