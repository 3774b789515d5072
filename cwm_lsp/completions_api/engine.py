"""Completions on our runtime: request validation, generation, and incremental text with stop
strings, in the shape of the OpenAI/vLLM completions API (no HTTP here; see ``http.py``)."""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cwm_lsp.runtime.generate import Sampling, Session
from cwm_lsp.runtime.loader import LoadedModel
from cwm_lsp.runtime.tokenizer import Tokenizer
from cwm_lsp.trace import tokens as trace_tokens

DEFAULT_MAX_TOKENS = 16  # the OpenAI and vLLM default for completions
MAX_TEMPERATURE = 100.0  # beyond this, sampling is uniform in all but name
MAX_SEED = 2**63 - 1  # torch generators take a 64-bit seed
MAX_STOP_STRINGS = 16
MAX_STOP_LENGTH = 256
_UTF8_HOLD = 4  # tokens to wait for the rest of a multi-byte character


class RequestError(ValueError):
    """A request the server refuses; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.kind = kind


@dataclass
class CompletionRequest:
    prompt: list[int]
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    stop_token_ids: list[int] = field(default_factory=list)
    ignore_eos: bool = False
    skip_special_tokens: bool = True
    include_stop_str_in_output: bool = False
    stream: bool = False
    include_usage: bool = False


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


@dataclass
class Delta:
    text: str
    finish_reason: str | None = None  # "stop" or "length" on the last delta
    stop_reason: int | str | None = None  # the stop id/string that ended it (None: end of text)


def _int(body: dict[str, Any], key: str, default: int | None) -> int | None:
    value = body.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"'{key}' must be an integer")
    return value


def _number(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"'{key}' must be a number")
    try:
        number = float(value)
    except OverflowError:  # an integer too large for a float
        raise RequestError(f"'{key}' is out of range") from None
    if not math.isfinite(number):
        raise RequestError(f"'{key}' must be a finite number")
    return number


def _flag(body: dict[str, Any], key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise RequestError(f"'{key}' must be true or false")
    return value


class CompletionEngine:
    """One loaded model shared by every request; requests run one at a time (the caller holds
    the turn) on one session, so a prompt sharing a prefix with the previous one reuses it."""

    def __init__(self, model: LoadedModel, *, name: str | None = None) -> None:
        if model.tokenizer is None:
            raise ValueError(
                f"{model.path} has no tokenizer; the completions API needs one to return text"
            )
        self.model = model
        self.tokenizer: Tokenizer = model.tokenizer
        self.name = name or model.name
        self.max_model_len = model.config.max_position_embeddings
        self.vocab_size = model.config.vocab_size
        self._session: Session = model.new_session()
        self._special_ids = set(self.tokenizer.special.values())
        self.eos_ids = {self.tokenizer.special_id(trace_tokens.END_OF_TEXT)}
        for name_ in ("<|eot_id|>", "<|eom_id|>"):
            with contextlib.suppress(ValueError):
                self.eos_ids.add(self.tokenizer.special_id(name_))
        self.lock = threading.Lock()

    # -- request parsing -------------------------------------------------------------------------

    def parse(self, body: Any) -> CompletionRequest:
        if not isinstance(body, dict):
            raise RequestError("the request body must be a JSON object")
        prompt = self._prompt(body.get("prompt"))
        if _int(body, "n", 1) != 1 or _int(body, "best_of", 1) not in (1, None):
            raise RequestError("only n = 1 is supported")
        if body.get("echo"):
            raise RequestError("'echo' is not supported")
        if body.get("logprobs") is not None:
            raise RequestError("'logprobs' is not supported")
        max_tokens = _int(body, "max_tokens", DEFAULT_MAX_TOKENS)
        if max_tokens is None:
            max_tokens = self.max_model_len - len(prompt)
        if max_tokens < 1:
            raise RequestError("'max_tokens' must be at least 1")
        if len(prompt) + max_tokens > self.max_model_len:
            raise RequestError(
                f"this model's maximum context length is {self.max_model_len} tokens; the request "
                f"asks for {len(prompt) + max_tokens} ({len(prompt)} in the prompt, {max_tokens} "
                "to generate): shorten the prompt or lower max_tokens"
            )
        stop = body.get("stop") or []
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
            raise RequestError("'stop' must be a string or a list of non-empty strings")
        if len(stop) > MAX_STOP_STRINGS or any(len(s) > MAX_STOP_LENGTH for s in stop):
            raise RequestError(
                f"'stop' takes at most {MAX_STOP_STRINGS} strings of at most "
                f"{MAX_STOP_LENGTH} characters"
            )
        stop_ids = body.get("stop_token_ids") or []
        if not isinstance(stop_ids, list):
            raise RequestError("'stop_token_ids' must be a list of token ids")
        stop_ids = self._token_ids(stop_ids, "'stop_token_ids'")
        temperature = _number(body, "temperature", 1.0)
        top_p = _number(body, "top_p", 1.0)
        if not 0 <= temperature <= MAX_TEMPERATURE:
            raise RequestError(f"'temperature' must be a number from 0 to {MAX_TEMPERATURE:g}")
        if not 0 < top_p <= 1:
            raise RequestError("'top_p' must be a number in (0, 1]")
        seed = _int(body, "seed", None)
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise RequestError(f"'seed' must be an integer from 0 to {MAX_SEED} (2**63 - 1)")
        options = body.get("stream_options") or {}
        if not isinstance(options, dict):
            raise RequestError("'stream_options' must be an object")
        return CompletionRequest(
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            stop=list(stop),
            stop_token_ids=list(stop_ids),
            ignore_eos=_flag(body, "ignore_eos", False),
            skip_special_tokens=_flag(body, "skip_special_tokens", True),
            include_stop_str_in_output=_flag(body, "include_stop_str_in_output", False),
            stream=_flag(body, "stream", False),
            include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        )

    def _prompt(self, prompt: Any) -> list[int]:
        if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], (list, str)):
            prompt = prompt[0]  # a batch of one
        if isinstance(prompt, str):
            ids = self.tokenizer.encode(prompt)  # plain text: use token ids for special tokens
        elif isinstance(prompt, list) and all(
            isinstance(i, int) and not isinstance(i, bool) for i in prompt
        ):
            ids = list(prompt)
        else:
            raise RequestError("'prompt' must be a string or a list of token ids (one prompt)")
        if not ids:
            raise RequestError("the prompt is empty")
        return self._token_ids(ids, "'prompt'")

    # -- tokenizer endpoints ---------------------------------------------------------------------

    def tokenize(self, text: str) -> list[int]:
        """Like vLLM's /tokenize: special-token strings in ``text`` become their ids."""
        return self.tokenizer.encode_reading_specials(text)

    def detokenize(self, ids: Any) -> str:
        """Text for a list of token ids (each one in the vocabulary)."""
        if not isinstance(ids, list):
            raise RequestError("'tokens' must be a list of token ids")
        return self.tokenizer.decode(self._token_ids(ids, "'tokens'"))

    def _token_ids(self, ids: Sequence[Any], what: str) -> list[int]:
        for token in ids:
            if isinstance(token, bool) or not isinstance(token, int):
                raise RequestError(f"{what} must be a list of token ids")
            if not 0 <= token < self.vocab_size:
                raise RequestError(
                    f"token id {token} is outside the vocabulary (0..{self.vocab_size - 1})"
                )
        return list(ids)

    # -- generation ------------------------------------------------------------------------------

    def run(
        self, request: CompletionRequest, cancelled: threading.Event, usage: Usage
    ) -> Iterator[Delta]:
        """Generate (the caller must hold :attr:`lock`); yields text deltas, the last one with
        its finish reason. Stops early, without a final delta, when ``cancelled`` is set."""
        usage.prompt_tokens = len(request.prompt)
        stops = set(request.stop_token_ids)
        if not request.ignore_eos:
            stops |= self.eos_ids
        sampling = Sampling(request.temperature, request.top_p, request.seed)
        text = _TextStream(self.tokenizer, self._special_ids, request)
        for token in self._session.generate(
            request.prompt, max_new_tokens=request.max_tokens, sampling=sampling, stop_ids=stops
        ):
            if cancelled.is_set():
                return
            usage.completion_tokens += 1
            if token in stops:
                user_stop = token in request.stop_token_ids
                reason = token if user_stop or token not in self.eos_ids else None
                tail = text.finish(token if request.include_stop_str_in_output else None)
                yield Delta(tail, "stop", reason)
                return
            piece, hit = text.push(token)
            if hit is not None:
                yield Delta(piece, "stop", hit)
                return
            if piece:
                yield Delta(piece)
        yield Delta(text.finish(None), "length")


class _TextStream:
    """Decoded text of generated ids, released as soon as it is whole UTF-8 and cannot be the
    start of a stop string."""

    def __init__(self, tokenizer: Tokenizer, special: set[int], request: CompletionRequest):
        self.tokenizer = tokenizer
        self.special = special
        self.request = request
        self.pending: list[int] = []
        self.text = ""  # decoded, not yet released
        self.hold = max((len(s) for s in request.stop), default=1) - 1

    def _decode(self, ids: list[int]) -> str:
        if self.request.skip_special_tokens:
            ids = [i for i in ids if i not in self.special]
        return self.tokenizer.decode(ids)

    def push(self, token: int) -> tuple[str, str | None]:
        self.pending.append(token)
        decoded = self._decode(self.pending)
        if decoded.endswith("\ufffd") and len(self.pending) < _UTF8_HOLD:
            return "", None
        self.pending = []
        self.text += decoded
        for stop in self.request.stop:
            at = self.text.find(stop)
            if at >= 0:
                end = at + len(stop) if self.request.include_stop_str_in_output else at
                return self.text[:end], stop
        cut = len(self.text) - self.hold
        released, self.text = self.text[: max(cut, 0)], self.text[max(cut, 0) :]
        return released, None

    def finish(self, stop_token: int | None) -> str:
        ids = self.pending + ([stop_token] if stop_token is not None else [])
        out = self.text + (self._decode(ids) if ids else "")
        self.text, self.pending = "", []
        return out
