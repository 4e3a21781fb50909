"""Reading OpenAI-compatible request bodies (``/openai/v1/chat/completions``, ``/openai/v1/completions``).

What a simulated language model needs from a request is checked here, before the request becomes a job,
the way vLLM's OpenAI server checks it: a body that is not a JSON object, a missing ``messages`` or
``prompt``, a field of the wrong type or out of range, an unknown model, or more tokens than the context
holds is an :class:`OpenAIError` (400 in OpenAI's error shape), never a 500. Fields the model does not use
(``tools``, ``user``, ...) are accepted and ignored, as vLLM does; a few it cannot honour truthfully
(``n`` > 1, ``logprobs``, ``echo``, several prompts in one request) are refused with a message that says so.

The tokenizer rule (stated once, here): a text of ``c`` characters is ``ceil(c / 4)`` tokens; a chat
prompt is the sum over its messages' text (string content, or the ``text`` of its content parts); a
completion prompt given as token ids is as many tokens as ids.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from loadtest.contract import COMPLETIONS_DEFAULT_MAX_TOKENS, OpenAIRoute

CHARS_PER_TOKEN = 4
"""The emulator's tokenizer rule: this many characters make one token (rounded up)."""

INVALID_REQUEST = "invalid_request_error"
NOT_FOUND = "not_found_error"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
_NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
    "repetition_penalty": (0.0, 2.0),
}
_WHOLE_RANGES: dict[str, tuple[int, int]] = {
    "max_tokens": (1, 1 << 31),
    "max_completion_tokens": (1, 1 << 31),
    "min_tokens": (0, 1 << 31),
    "n": (1, 128),
    "seed": (-(1 << 63), (1 << 64) - 1),
    "top_k": (-1, 1 << 31),
}
_FLAGS = ("stream", "ignore_eos", "echo", "skip_special_tokens")
_STRINGS = ("model", "user", "suffix")


class OpenAIError(Exception):
    """A request answered with an OpenAI-shaped error: ``{"error": {message, type, param, code}}``."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None,
        error_type: str = INVALID_REQUEST,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.error_type = error_type

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.error_type, self.param, self.code)


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | int | None = None
) -> dict[str, Any]:
    """OpenAI's error object."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def bad_request(message: str, param: str | None = None, code: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, param, code)


def count_tokens(text: str) -> int:
    """Tokens of ``text`` by the emulator's rule: ``ceil(characters / 4)``."""
    return -(-len(text) // CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class CompletionRequest:
    """What the simulated model needs from a valid chat or completion request."""

    route: OpenAIRoute
    model: str
    prompt_tokens: int
    max_tokens: int
    """The most tokens the answer may have: the request's ``max_tokens`` (or ``max_completion_tokens``),
    else the route's default, never more than the context leaves."""
    min_tokens: int = 0
    ignore_eos: bool = False
    stream: bool = False
    include_usage: bool = False

    @property
    def chat(self) -> bool:
        return self.route == OpenAIRoute.CHAT_COMPLETIONS


def read_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a 400."""
    if not body.strip():
        raise bad_request("the request body is empty; send a JSON object")
    try:
        value = json.loads(body)
    except RecursionError:
        raise bad_request("the request body is nested too deeply") from None
    except UnicodeDecodeError:
        raise bad_request("the request body is not UTF-8 text") from None
    except ValueError as exc:
        raise bad_request(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise bad_request(f"the request body must be a JSON object, found {_json_type(value)}")
    return value


def is_stream(body: dict[str, Any]) -> bool:
    """Whether the client asked for server-sent events (as the vLLM worker reads it: ``stream`` truthy)."""
    return bool(body.get("stream"))


def parse_completion_request(
    route: OpenAIRoute, body: dict[str, Any], models: Sequence[str], context_length: int
) -> CompletionRequest:
    """Validate a chat or completion body for the simulated model; raises :class:`OpenAIError` (400)."""
    _check_common_fields(body)
    model = body.get("model")
    if model is None:
        model = models[0]
    elif model not in models:
        raise bad_request(
            f"The model `{model}` does not exist; this endpoint serves {', '.join(repr(m) for m in models)}",
            "model", "model_not_found",
        )
    if route == OpenAIRoute.CHAT_COMPLETIONS:
        prompt_tokens = _chat_prompt_tokens(body)
        logprobs = body.get("logprobs")
        if logprobs is not None and not isinstance(logprobs, bool):
            raise bad_request(f"'logprobs' must be a boolean, found {_json_type(logprobs)}", "logprobs")
    else:
        prompt_tokens = _completion_prompt_tokens(body)
        logprobs = body.get("logprobs")
        if logprobs is not None and (isinstance(logprobs, bool) or not isinstance(logprobs, int)):
            raise bad_request(f"'logprobs' must be an integer, found {_json_type(logprobs)}", "logprobs")
    if logprobs:
        raise bad_request("the emulator does not model logprobs; send the request without them", "logprobs")
    if body.get("echo"):
        raise bad_request("the emulator does not model echo; send the request without it", "echo")
    n = body.get("n")
    if n is not None and n != 1:
        raise bad_request(f"the emulator answers one choice per request (n = 1), found n = {n}", "n")
    best_of = body.get("best_of")
    if best_of is not None and best_of != 1:
        raise bad_request(f"the emulator answers one choice per request (best_of = 1), found {best_of!r}", "best_of")
    stream = bool(body.get("stream"))
    include_usage = _stream_options(body, stream)
    max_tokens = _max_tokens(body, route, prompt_tokens, context_length)
    min_tokens = body.get("min_tokens") or 0
    if min_tokens > max_tokens:
        raise bad_request(f"min_tokens ({min_tokens}) must not exceed max_tokens ({max_tokens})", "min_tokens")
    return CompletionRequest(
        route=route, model=str(model), prompt_tokens=prompt_tokens, max_tokens=max_tokens, min_tokens=min_tokens,
        ignore_eos=bool(body.get("ignore_eos")), stream=stream, include_usage=include_usage,
    )


def _check_common_fields(body: dict[str, Any]) -> None:
    for name in _STRINGS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise bad_request(f"'{name}' must be a string, found {_json_type(value)}", name)
    for name in _FLAGS:
        value = body.get(name)
        if value is not None and not isinstance(value, bool):
            raise bad_request(f"'{name}' must be a boolean, found {_json_type(value)}", name)
    for name, (low, high) in _NUMBER_RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise bad_request(f"'{name}' must be a number, found {_json_type(value)}", name)
        if not low <= value <= high:
            raise bad_request(f"'{name}' must be between {low:g} and {high:g}, found {value!r}", name)
    for name, (low_int, high_int) in _WHOLE_RANGES.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"'{name}' must be an integer, found {_json_type(value)}", name)
        if value < low_int:
            raise bad_request(f"'{name}' must be at least {low_int}, found {value}", name)
        if value > high_int:
            raise bad_request(f"'{name}' must be at most {high_int}, found {value}", name)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and not (
        isinstance(stop, list) and all(isinstance(item, str) for item in stop)
    ):
        raise bad_request(f"'stop' must be a string or a list of strings, found {_json_type(stop)}", "stop")


def _chat_prompt_tokens(body: dict[str, Any]) -> int:
    messages = body.get("messages")
    if messages is None:
        raise bad_request("'messages' is a required property", "messages")
    if not isinstance(messages, list):
        raise bad_request(f"'messages' must be a list of message objects, found {_json_type(messages)}", "messages")
    if not messages:
        raise bad_request("'messages' must hold at least one message", "messages")
    tokens = 0
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            raise bad_request(
                f"{where} must be an object with 'role' and 'content', found {_json_type(message)}", where
            )
        role = message.get("role")
        if not isinstance(role, str) or role not in _ROLES:
            raise bad_request(
                f"{where}.role must be one of {', '.join(sorted(_ROLES))}, found {role!r}", f"{where}.role"
            )
        tokens += count_tokens(_message_text(message.get("content"), role, where))
    return tokens


def _message_text(content: Any, role: str, where: str) -> str:
    if isinstance(content, str):
        return content
    if content is None:
        if role in ("assistant", "tool", "function"):
            return ""
        raise bad_request(f"{where}.content is required for a {role} message", f"{where}.content")
    if not isinstance(content, list):
        raise bad_request(
            f"{where}.content must be a string or a list of content parts, found {_json_type(content)}",
            f"{where}.content",
        )
    texts: list[str] = []
    for index, part in enumerate(content):
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise bad_request(f"{where}.content[{index}] must be an object with a 'type'", f"{where}.content")
        if part["type"] == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise bad_request(f"{where}.content[{index}].text must be a string", f"{where}.content")
            texts.append(text)
    return "".join(texts)


def _completion_prompt_tokens(body: dict[str, Any]) -> int:
    prompt = body.get("prompt")
    if prompt is None:
        raise bad_request("'prompt' is a required property", "prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]  # one prompt, given as a list of one
    if isinstance(prompt, str):
        if not prompt:
            raise bad_request("'prompt' must not be empty", "prompt")
        return count_tokens(prompt)
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        if any(t < 0 for t in prompt):
            raise bad_request("'prompt' token ids must not be negative", "prompt")
        return len(prompt)
    if isinstance(prompt, list) and len(prompt) > 1 and all(isinstance(p, str | list) for p in prompt):
        raise bad_request("the emulator answers one prompt per request; send the prompts one by one", "prompt")
    raise bad_request(
        f"'prompt' must be a string, a list of token ids, or a list holding one of those; found {_json_type(prompt)}",
        "prompt",
    )


def _stream_options(body: dict[str, Any], stream: bool) -> bool:
    options = body.get("stream_options")
    if options is None:
        return False
    if not isinstance(options, dict):
        raise bad_request(f"'stream_options' must be an object, found {_json_type(options)}", "stream_options")
    if not stream:
        raise bad_request("Stream options can only be defined when `stream=True`.", "stream_options")
    include_usage = options.get("include_usage")
    if include_usage is not None and not isinstance(include_usage, bool):
        raise bad_request(
            f"'stream_options.include_usage' must be a boolean, found {_json_type(include_usage)}",
            "stream_options.include_usage",
        )
    return bool(include_usage)


def _max_tokens(body: dict[str, Any], route: OpenAIRoute, prompt_tokens: int, context_length: int) -> int:
    room = context_length - prompt_tokens
    if room <= 0:
        raise bad_request(
            f"This model's maximum context length is {context_length} tokens. However, your request has "
            f"{prompt_tokens} input tokens. Please reduce the length of the input messages.",
            "messages" if route == OpenAIRoute.CHAT_COMPLETIONS else "prompt",
        )
    asked = body.get("max_completion_tokens") or body.get("max_tokens")
    if asked is None:
        return room if route == OpenAIRoute.CHAT_COMPLETIONS else min(room, COMPLETIONS_DEFAULT_MAX_TOKENS)
    if asked > room:
        raise bad_request(
            f"This model's maximum context length is {context_length} tokens. However, you requested "
            f"{prompt_tokens + asked} tokens ({prompt_tokens} in the messages, {asked} in the completion). "
            "Please reduce the length of the messages or completion.",
            "max_tokens",
        )
    return int(asked)


def _json_type(value: Any) -> str:
    """How JSON would name the type of ``value`` (for messages)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"
