"""LLM answer backends behind LangChain's chat-model seam: OpenAI-compatible servers and local GGUF files."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from assistant.followup import condense_messages, usable_condensed
from assistant.prompts import build_messages
from assistant.settings import AssistantSettings
from assistant.types import Evidence
from ingest.errors import ConfigError, RegassistError

if TYPE_CHECKING:
    # Annotations only: importing LangChain's chat models costs the extractive backend 0.3 s per start.
    from langchain_core.language_models import BaseChatModel


class BackendError(RegassistError):
    """The answer backend failed (timeout, HTTP error, unreadable reply); no answer was produced."""


def make_chat_model(settings: AssistantSettings) -> BaseChatModel:
    """Build the configured chat model; a missing optional dependency names the extra to install."""
    if settings.backend == "openai":
        if not settings.llm_base_url:
            raise ConfigError("The openai backend needs REGASSIST_LLM_BASE_URL (e.g. http://127.0.0.1:11434/v1)")
        from langchain_openai import ChatOpenAI

        return ChatOpenAI(
            base_url=settings.llm_base_url,
            model=settings.llm_model,
            api_key=settings.llm_api_key,  # type: ignore[arg-type]
            timeout=settings.llm_timeout_s,
            max_retries=settings.llm_max_retries,
            temperature=0,
            streaming=True,
        )
    if settings.backend == "llamacpp":
        if not settings.llamacpp_model_path:
            raise ConfigError("The llamacpp backend needs REGASSIST_LLAMACPP_MODEL_PATH (a .gguf file)")
        try:
            from langchain_community.chat_models import ChatLlamaCpp
        except ImportError as exc:  # pragma: no cover
            raise ConfigError("The llamacpp backend needs the extra: pip install 'regassist[llamacpp]'") from exc
        try:
            return ChatLlamaCpp(
                model_path=settings.llamacpp_model_path, temperature=0, n_ctx=4096, max_tokens=256, verbose=False
            )
        except ImportError as exc:
            raise ConfigError(
                "llama-cpp-python is not installed: pip install 'regassist[llamacpp]' (build it with "
                "CMAKE_ARGS='-DGGML_NATIVE=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF' "
                "and --no-cache-dir)"
            ) from exc
    raise ConfigError(f"'{settings.backend}' is not an LLM backend")


class ChatBackend:
    """Generates a cited answer with a chat model; verification happens afterwards, in the service."""

    def __init__(self, model: BaseChatModel, name: str, model_name: str) -> None:
        self.model = model
        self.name = name
        self.model_name = model_name
        self.last_messages: list[tuple[str, str]] = []

    def stream(self, question: str, evidence: Sequence[Evidence]) -> Iterator[str]:
        """Yield answer tokens as the model produces them."""
        messages = build_messages(question, evidence)
        self.last_messages = messages
        try:
            for chunk in self.model.stream(messages):
                text = chunk.content if isinstance(chunk.content, str) else ""
                if text:
                    yield text
        except RegassistError:
            raise
        except Exception as exc:
            raise BackendError(f"{self.name} backend failed: {type(exc).__name__}: {str(exc)[:300]}") from exc

    def condense(self, history: list[tuple[str, str]], question: str) -> str | None:
        """The follow-up rewritten with the conversation's history to stand alone, or None if the model's
        rewrite is unusable (then the rule-based rewrite stands). A failing model fails the question."""
        try:
            reply = self.model.invoke(condense_messages(history, question))
        except Exception as exc:
            raise BackendError(f"{self.name} backend failed: {type(exc).__name__}: {str(exc)[:300]}") from exc
        text = reply.content if isinstance(reply.content, str) else ""
        return usable_condensed(text, question)
