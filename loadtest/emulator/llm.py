"""The language model simulated workers serve on the OpenAI-compatible routes, and what it really did.

:class:`LanguageModel` draws, per request, how many tokens the answer has and how long its prefill takes
(seeded, from the endpoint's ``llm`` settings); a :class:`Generation` is one request's answer being
produced on one worker: the simulated worker (:mod:`loadtest.emulator.workers`) asks it for the time of
each next token (``decode_time`` slowed by the sequences in flight on that worker) and emits the tokens at
those simulated moments, each as the OpenAI chunk objects a streaming client receives. :class:`LLMTruth`
keeps the ground truth: every request's token counts and emit times (bounded), and summaries of time to
first token, time per output token, inter-token latency and end-to-end latency over every request.

Every output token is four characters (a space and a three-letter word), so the emulator's own tokenizer
rule (:data:`~loadtest.emulator.openai_requests.CHARS_PER_TOKEN`) counts an answer exactly as produced.
"""

from __future__ import annotations

import random
import time
from array import array
from collections import defaultdict, deque
from typing import TYPE_CHECKING, Any

from loadtest.contract import JobStatus, OpenAIRoute
from loadtest.distributions import count_sampler, sampler
from loadtest.emulator.groundtruth import records_page
from loadtest.emulator.openai_requests import CompletionRequest, parse_completion_request
from loadtest.emulator.worker_timings import TimingStats
from loadtest.emulator.workers import Lateness
from loadtest.emulator_config import LanguageModelConfig

if TYPE_CHECKING:
    from loadtest.emulator.jobstore import Job

_WORDS = (
    "the and for you are not but all any can had her was one our out day get has him his how man new now old "
    "see two way who boy did its let put say she too use may set run big end far few got lot low own red sun "
    "top yes yet ask bad cut eat fly hot key law map"
)
_VOCABULARY: tuple[str, ...] = tuple(f" {word}" for word in _WORDS.split(" "))
_STEP = 7
"""Token ``i`` of an answer is word ``(offset + 7 i) mod 64``: texts vary, every token is 4 characters."""
assert len(_VOCABULARY) == 64 and all(len(token) == 4 for token in _VOCABULARY)

EMIT_TIMES_BUDGET = 2_000_000
"""Most token emit times kept over all per-request records (16 MB); the oldest records lose theirs first."""

STOP = "stop"
LENGTH = "length"
COMPLETED = JobStatus.COMPLETED.value


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def response_id(route: OpenAIRoute, job_id: str) -> str:
    """The OpenAI object id of the answer to a request made into job ``job_id``."""
    return f"{'chatcmpl' if route == OpenAIRoute.CHAT_COMPLETIONS else 'cmpl'}-{job_id}"


def models_object(models: tuple[str, ...], created: int) -> dict[str, Any]:
    """The ``/v1/models`` answer (vLLM's shape)."""
    data = [{"id": name, "object": "model", "created": created, "owned_by": "vllm", "root": name, "parent": None}
            for name in models]
    return {"object": "list", "data": data}


class Generation:
    """One request's answer, produced on one worker (a fresh one for each attempt of the job)."""

    __slots__ = (
        "_batch", "_offset", "_pending", "_pending_tokens", "created", "emit_times", "emitted", "finish_reason",
        "lm", "output_tokens", "prefill_s", "request",
    )

    def __init__(
        self, lm: LanguageModel, request: CompletionRequest, output_tokens: int, finish_reason: str,
        prefill_s: float, offset: int,
    ) -> None:
        self.lm = lm
        self.request = request
        self.output_tokens = output_tokens
        self.finish_reason = finish_reason
        self.prefill_s = prefill_s
        self._offset = offset
        self.created = int(time.time())
        self.emitted = 0
        """Tokens produced so far."""
        self.emit_times = array("d")
        """Simulated (loop-clock) time each token left the worker: when it was produced, or with stream
        batching when the batch holding it was yielded."""
        batching = lm.config.stream_batching if request.stream else None
        self._batch: float | None = None if batching is None else lm.first_batch
        self._pending: list[dict[str, Any]] = []
        self._pending_tokens = 0

    @property
    def finished(self) -> bool:
        return self.emitted >= self.output_tokens

    def token(self, index: int) -> str:
        return _VOCABULARY[(self._offset + _STEP * index) % len(_VOCABULARY)]

    def text(self) -> str:
        """The answer so far."""
        return "".join(self.token(index) for index in range(self.emitted))

    def next_token_after(self, active: int) -> float:
        """Seconds from this token to the next, with ``active`` sequences in flight on the worker."""
        return self.lm.decode_s(active)

    def emit(self, at: float, job_id: str) -> list[dict[str, Any]]:
        """Produce the next token at simulated time ``at``: the chunk objects a streaming client receives
        now (none for a request answered whole; with stream batching, the batch this token completes)."""
        chunks = self._chunks_of_next_token(job_id)
        if self._batch is None:
            self.emit_times.append(at)
            return chunks
        out: list[dict[str, Any]] = []
        self._pending_tokens += 1
        for chunk in chunks:  # as worker-vllm counts: every event, the role and usage chunks too
            self._pending.append(chunk)
            if len(self._pending) >= self._batch:
                out += self._pending
                self._pending = []
                self._batch = self.lm.next_batch(self._batch)
        if self.finished:
            out += self._pending
            self._pending = []
        if out and self._pending_tokens and (self.finished or not self._pending):
            self.emit_times.extend([at] * self._pending_tokens)
            self._pending_tokens = 0
        return out

    def _chunks_of_next_token(self, job_id: str) -> list[dict[str, Any]]:
        index = self.emitted
        self.emitted += 1
        request = self.request
        if not request.stream:
            return []
        last = self.emitted >= self.output_tokens
        finish = self.finish_reason if last else None
        chunks: list[dict[str, Any]] = []
        if request.chat:
            if index == 0:  # vLLM's first chunk names the role, with the first token's iteration
                chunks.append(self._chunk({"index": 0, "delta": {"role": "assistant", "content": ""},
                                           "logprobs": None, "finish_reason": None}, job_id))
            choice = {"index": 0, "delta": {"content": self.token(index)}, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "text": self.token(index), "logprobs": None, "finish_reason": finish,
                      "stop_reason": None}
        chunks.append(self._chunk(choice, job_id))
        if last and request.include_usage:
            final = self._chunk(None, job_id)
            final["usage"] = usage(request.prompt_tokens, self.emitted)
            chunks.append(final)
        return chunks

    def _chunk(self, choice: dict[str, Any] | None, job_id: str) -> dict[str, Any]:
        request = self.request
        chunk: dict[str, Any] = {
            "id": response_id(request.route, job_id),
            "object": "chat.completion.chunk" if request.chat else "text_completion",
            "created": self.created,
            "model": request.model,
            "choices": [] if choice is None else [choice],
        }
        if request.include_usage:
            chunk["usage"] = None  # as OpenAI documents: every chunk but the last carries a null usage
        return chunk

    def final_output(self, job_id: str) -> dict[str, Any] | None:
        """The job's output once every token is out: the whole answer for a request answered whole (the
        ``chat.completion`` / ``text_completion`` object), None for a streamed one (as a generator
        handler without aggregation)."""
        request = self.request
        if request.stream:
            return None
        text = self.text()
        if request.chat:
            choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text},
                                      "logprobs": None, "finish_reason": self.finish_reason}
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": self.finish_reason,
                      "stop_reason": None}
        return {
            "id": response_id(request.route, job_id),
            "object": "chat.completion" if request.chat else "text_completion",
            "created": self.created,
            "model": request.model,
            "choices": [choice],
            "usage": usage(request.prompt_tokens, self.emitted),
        }


class LanguageModel:
    """Draws each request's answer length and prefill time from the endpoint's ``llm`` settings."""

    def __init__(self, config: LanguageModelConfig, seed: int | None) -> None:
        self.config = config
        self.models: tuple[str, ...] = tuple(config.models)
        self.context_length = config.context_length
        self._length = count_sampler(config.output_tokens, random.Random(None if seed is None else seed + 5))
        self._decode = sampler(config.decode_time, random.Random(None if seed is None else seed + 6))
        self._text_rng = random.Random(None if seed is None else seed + 7)
        self._prefill_overhead = float(config.prefill_overhead)
        self._prefill_per_token = float(config.prefill_per_token)
        self._slowdown = float(config.batch_slowdown)
        batching = config.stream_batching
        self._batch_max = 1 if batching is None else batching.size
        self._batch_growth = 1.0 if batching is None else float(batching.growth)
        dynamic = batching is not None and batching.growth > 1 and batching.size > batching.min
        self.first_batch = float(batching.min if dynamic and batching is not None else self._batch_max)
        """Events in a stream's first yield (stream batching)."""

    def next_batch(self, current: float) -> float:
        """Events in the yield after one of ``current`` events (worker-vllm's ``BatchSize.update``)."""
        return min(current * self._batch_growth, self._batch_max)

    def parse(self, route: OpenAIRoute, body: dict[str, Any]) -> CompletionRequest:
        """A validated request for this model (raises ``OpenAIError``, a 400)."""
        return parse_completion_request(route, body, self.models, self.context_length)

    def generation(self, request: CompletionRequest) -> Generation:
        """A fresh answer to ``request``: its length (the drawn natural length, at least ``min_tokens``,
        cut at ``max_tokens``; exactly ``max_tokens`` with ``ignore_eos``) and prefill time."""
        cap = request.max_tokens
        if request.ignore_eos:
            tokens, finish = cap, LENGTH
        else:
            natural = max(1, self._length(), request.min_tokens)
            tokens, finish = (cap, LENGTH) if natural >= cap else (natural, STOP)
        prefill = self._prefill_overhead + request.prompt_tokens * self._prefill_per_token
        return Generation(self, request, tokens, finish, prefill, self._text_rng.randrange(len(_VOCABULARY)))

    def decode_s(self, active: int) -> float:
        """One token's time with ``active`` sequences in flight on the worker (continuous batching)."""
        return self._decode() * (1.0 + self._slowdown * max(0, active - 1))


class RequestRecord:
    """The ground truth of one OpenAI request that became a job (times on the loop clock)."""

    __slots__ = (
        "emit", "finish_reason", "finished_at", "id", "model", "output_tokens", "prompt_tokens", "route", "source",
        "started_at", "status", "stream", "submitted_at",
    )

    def __init__(self, job_id: str, route: str, stream: bool, source: str) -> None:
        self.id = job_id
        self.route = route
        self.stream = stream
        self.source = source
        self.model: str | None = None
        self.status: str | None = None
        self.finish_reason: str | None = None
        self.prompt_tokens: int | None = None
        self.output_tokens: int | None = None
        self.submitted_at = 0.0
        self.started_at: float | None = None
        self.finished_at: float | None = None
        self.emit: array[float] | None = None
        """Each token's emit time (simulated workers) or each chunk's arrival (real workers), in seconds
        after submission; None once dropped for the memory budget."""

    def to_json(self, origin: float) -> dict[str, Any]:
        def ms(at: float | None) -> float | None:
            return None if at is None else round((at - origin) * 1000, 3)

        emit = self.emit
        first = emit[0] if emit else None
        return {
            "id": self.id, "route": self.route, "model": self.model, "stream": self.stream, "source": self.source,
            "status": self.status, "finish_reason": self.finish_reason,
            "prompt_tokens": self.prompt_tokens, "output_tokens": self.output_tokens,
            "submittedAt": ms(self.submitted_at), "startedAt": ms(self.started_at), "finishedAt": ms(self.finished_at),
            "ttft_ms": None if first is None else round(first * 1000, 3),
            "emit_ms": None if emit is None else [round(t * 1000, 3) for t in emit],
        }


class LLMTruth:
    """What the endpoint's OpenAI routes really did: counts, summaries, and bounded per-request records."""

    SOURCES = ("simulated", "relayed")

    def __init__(self, records_max: int) -> None:
        self.requests: defaultdict[str, int] = defaultdict(int)
        """OpenAI requests answered, by route (``/v1/chat/completions``, ..., ``unknown``)."""
        self.finished: defaultdict[str, int] = defaultdict(int)
        self.finish_reasons: defaultdict[str, int] = defaultdict(int)
        self.streamed = 0
        self.abandoned = 0
        """Streams whose client went away before the end (their jobs ran on)."""
        self.prompt_tokens = 0
        self.output_tokens = 0
        self.ttft = TimingStats()
        self.tpot = TimingStats()
        self.itl = TimingStats()
        self.e2e = TimingStats()
        self.relay_lateness = Lateness()
        """How long after a token's simulated emit time the relay wrote it to the client's socket."""
        self.records: deque[RequestRecord] = deque(maxlen=records_max or None)
        self.records_max = records_max
        self.records_total = 0
        self._with_times: deque[RequestRecord] = deque()
        self._times_kept = 0
        self.emit_times_dropped = 0
        """Records whose emit times were dropped to stay within :data:`EMIT_TIMES_BUDGET`."""

    def record(self, record: RequestRecord, emit_times: array[float] | list[float] | None) -> None:
        """A request's job ended: count it, add it to the summaries, keep its record (bounded)."""
        self.finished[record.status or "unknown"] += 1
        self.streamed += int(record.stream)
        if record.finish_reason:
            self.finish_reasons[record.finish_reason] += 1
        self.prompt_tokens += record.prompt_tokens or 0
        self.output_tokens += record.output_tokens or 0
        submitted = record.submitted_at
        if record.finished_at is not None and record.status == COMPLETED:
            self.e2e.add((record.finished_at - submitted) * 1000)
        relative: array[float] | None = None
        if emit_times:
            relative = array("d", (at - submitted for at in emit_times))
            self.ttft.add(relative[0] * 1000)
            if len(relative) > 1:
                self.tpot.add((relative[-1] - relative[0]) * 1000 / (len(relative) - 1))
                itl = self.itl
                previous = relative[0]
                for at in relative[1:]:
                    itl.add((at - previous) * 1000)
                    previous = at
        if not self.records_max:
            return
        self.records_total += 1
        if relative is not None:
            record.emit = relative
            self._keep_times(record)
        self.records.append(record)

    def record_generation(self, job: Job, generation: Generation) -> None:
        """A simulated language-model job reached its end (any terminal state): its truth."""
        request = generation.request
        record = RequestRecord(job.id, request.route.value, request.stream, "simulated")
        record.model = request.model
        record.status = job.status
        record.finish_reason = generation.finish_reason if job.status == COMPLETED else None
        record.prompt_tokens = request.prompt_tokens
        record.output_tokens = len(generation.emit_times)  # the tokens that left the worker
        record.submitted_at = job.submitted_at
        record.started_at = job.started_at
        record.finished_at = job.finished_at
        self.record(record, generation.emit_times)

    def _keep_times(self, record: RequestRecord) -> None:
        self._with_times.append(record)
        self._times_kept += len(record.emit or ())
        while self._times_kept > EMIT_TIMES_BUDGET and len(self._with_times) > 1:
            old = self._with_times.popleft()
            self._times_kept -= len(old.emit or ())
            if old.emit is not None:
                old.emit = None
                self.emit_times_dropped += 1

    @property
    def records_dropped(self) -> int:
        return self.records_total - len(self.records)

    def snapshot(self) -> dict[str, object]:
        """The summary for the ground truth (milliseconds)."""
        return {
            "requests": dict(sorted(self.requests.items())),
            "finished": dict(sorted(self.finished.items())),
            "streamed": self.streamed,
            "abandoned": self.abandoned,
            "finish_reasons": dict(sorted(self.finish_reasons.items())),
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "ttft_ms": self.ttft.snapshot(),
            "tpot_ms": self.tpot.snapshot(),
            "itl_ms": self.itl.snapshot(),
            "e2e_ms": self.e2e.snapshot(),
            "relay_lateness": self.relay_lateness.snapshot(),
            "records": self.records_total,
            "records_dropped": self.records_dropped,
            "emit_times_dropped": self.emit_times_dropped,
        }

    def page(self, offset: int, limit: int, origin: float) -> dict[str, object]:
        """Per-request records in the order their jobs ended, ``limit`` from ``offset``."""
        return records_page(self.records, self.records_total, offset, limit, "requests",
                            lambda record: record.to_json(origin))
