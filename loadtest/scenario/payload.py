"""Builds each job's request body from the scenario's payload template, deterministically.

The traffic side calls :meth:`PayloadFactory.make` once per job. Every flow draws from its own random
stream seeded by ``(seed, stream, flow name)``, so the sequence of payloads a flow sends does not depend
on how flows interleave; ``stream``/``streams`` keep Locust worker processes apart (counters
interleave: stream 0 of 2 counts 0, 2, 4..., stream 1 counts 1, 3, 5...). Pure Python, no Locust.
"""

from __future__ import annotations

import base64
import json
import math
import random
import stat
import string
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from loadtest.scenario.model import (
    BytesGen,
    ChoiceGen,
    CounterGen,
    FileGen,
    GeneratorNode,
    NumberGen,
    Payload,
    Scenario,
    TextGen,
    TokensGen,
)

__all__ = ["MAX_VALUES_FILE_BYTES", "PayloadFactory", "load_file_values"]

# 256-entry table turning random bytes into lowercase letters with about one space in seven.
_TEXT_TABLE = bytes((string.ascii_lowercase + " " * 4).encode()[i % 30] for i in range(256))


MAX_VALUES_FILE_BYTES: Final = 16 << 20
"""Largest ``$file`` values file: 16 MiB (every Locust process holds its values in memory; sample a
bigger data set down)."""


def load_file_values(path: Path) -> list[Any]:
    """The values a ``$file`` generator draws from: JSON list items (``.json``), one JSON value per line
    (``.jsonl``) or one string per non-empty line (anything else).

    Raises ``ValueError`` saying what is wrong when the file is empty, unparsable, not UTF-8, larger
    than :data:`MAX_VALUES_FILE_BYTES` or not a regular file (a device or a pipe could be endless), and
    ``OSError`` (``FileNotFoundError``) when it cannot be opened."""
    if not stat.S_ISREG(path.stat().st_mode):
        raise ValueError(f"{path}: not a regular file")
    with open(path, "rb") as handle:
        data = handle.read(MAX_VALUES_FILE_BYTES + 1)
    if len(data) > MAX_VALUES_FILE_BYTES:
        raise ValueError(f"{path}: larger than {MAX_VALUES_FILE_BYTES >> 20} MiB, the most a values file may be")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValueError(f"{path}: not UTF-8 text (line {line})") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            values = json.loads(text)
            if not isinstance(values, list):
                raise ValueError(f"{path}: a .json values file must hold a JSON list")
        elif suffix == ".jsonl":
            values = []
            for number, row in enumerate(text.splitlines(), start=1):
                if row.strip():
                    try:
                        values.append(json.loads(row))
                    except ValueError as exc:
                        raise ValueError(f"{path}: line {number} is not JSON ({exc})") from None
        else:
            values = [line for line in text.splitlines() if line.strip()]
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply") from None
    if not values:
        raise ValueError(f"{path}: no values in the file")
    return values


class _FlowStream:
    """Random source and generator state (counters, cycle positions) of one flow."""

    def __init__(self, seed: int, stream: int, flow_name: str) -> None:
        self.rng = random.Random(f"{seed}:{stream}:{flow_name}")
        self.positions: dict[int, int] = {}

    def next_position(self, node: GeneratorNode) -> int:
        key = id(node)
        position = self.positions.get(key, 0)
        self.positions[key] = position + 1
        return position


class PayloadFactory:
    """Makes ``{"input": ..., "webhook": ..., "policy": ...}`` for one job of a flow.

    ``default`` is the scenario's payload; ``flows`` maps flow names to their own payloads (overrides).
    ``base_dir`` resolves ``$file`` paths (the scenario file's folder).
    """

    def __init__(
        self,
        default: Payload,
        seed: int,
        *,
        flows: Mapping[str, Payload] | None = None,
        base_dir: Path | str | None = None,
        stream: int = 0,
        streams: int = 1,
    ) -> None:
        if not 0 <= stream < streams:
            raise ValueError(f"stream {stream} must be in [0, {streams})")
        self.default = default
        self.seed = seed
        self.flows = dict(flows or {})
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self.stream = stream
        self.streams = streams
        self._streams: dict[str, _FlowStream] = {}
        self._file_values: dict[str, list[Any]] = {}

    @classmethod
    def for_scenario(
        cls, scenario: Scenario, *, base_dir: Path | str | None = None, stream: int = 0, streams: int = 1
    ) -> PayloadFactory:
        """A factory for every flow of ``scenario`` (flow names as :meth:`Scenario.flow_names` gives)."""
        overrides = {
            name: flow.payload for name, flow in scenario.flows_by_name().items() if flow.payload is not None
        }
        return cls(scenario.payload, scenario.seed, flows=overrides, base_dir=base_dir, stream=stream, streams=streams)

    def payload_of(self, flow_name: str | None) -> Payload:
        return self.flows.get(flow_name, self.default) if flow_name is not None else self.default

    def make(self, flow_name: str | None = None) -> dict[str, Any]:
        """The JSON body of one job submission of ``flow_name`` (``None``: the scenario's payload)."""
        payload = self.payload_of(flow_name)
        key = flow_name or ""
        state = self._streams.get(key)
        if state is None:
            state = self._streams[key] = _FlowStream(self.seed, self.stream, key)
        body: dict[str, Any] = {"input": {name: self._render(value, state) for name, value in payload.input.items()}}
        if payload.webhook is not None:
            body["webhook"] = payload.webhook
        if payload.policy is not None:
            wire = payload.policy.to_wire()
            if wire:
                body["policy"] = wire
        return body

    # ------------------------------------------------------------------------------------------ rendering

    def _render(self, value: Any, state: _FlowStream) -> Any:
        if isinstance(value, GeneratorNode):
            return self._generate(value, state)
        if isinstance(value, dict):
            return {key: self._render(item, state) for key, item in value.items()}
        if isinstance(value, list):
            return [self._render(item, state) for item in value]
        return value

    def _generate(self, node: GeneratorNode, state: _FlowStream) -> Any:
        spec = node.spec
        rng = state.rng
        match spec:
            case TextGen(length=length):
                return _random_text(rng, length)
            case BytesGen(size=size):
                return _random_base64(rng, size)
            case TokensGen(count=count, length=length):
                return _random_tokens(rng, count, length)
            case ChoiceGen():
                return self._pick(spec.values, spec.order, spec.weights, node, state)
            case CounterGen(start=start, step=step, format=fmt):
                n = start + step * (state.next_position(node) * self.streams + self.stream)
                return fmt.replace("{n}", str(n)) if fmt else n
            case NumberGen(min=low, max=high, integer=integer):
                return rng.randint(math.ceil(low), math.floor(high)) if integer else rng.uniform(low, high)
            case FileGen(path=path, order=order):
                return self._pick(self._values_from(path), order, None, node, state)
            case True:  # $uuid
                return str(uuid.UUID(int=rng.getrandbits(128), version=4))
        raise AssertionError(f"unhandled generator {node.kind}")

    def _pick(
        self, values: list[Any], order: str, weights: list[float] | None, node: GeneratorNode, state: _FlowStream
    ) -> Any:
        if order == "cycle":
            return values[state.next_position(node) % len(values)]
        if weights is not None:
            return state.rng.choices(values, weights=weights, k=1)[0]
        return values[state.rng.randrange(len(values))]

    def _values_from(self, path: str) -> list[Any]:
        values = self._file_values.get(path)
        if values is None:
            values = self._file_values[path] = load_file_values(self.base_dir / path)
        return values


def _random_text(rng: random.Random, length: int) -> str:
    """``length`` characters of lowercase words; never starts or ends with a space."""
    if length <= 0:
        return ""
    text = rng.randbytes(length).translate(_TEXT_TABLE).decode("ascii")
    if length > 1:
        text = "x" + text[1:-1] + "x"
    return text if length > 1 else "x"


_LETTERS = bytes(string.ascii_lowercase.encode()[i % 26] for i in range(256))


def _random_tokens(rng: random.Random, count: int, length: int) -> list[str]:
    """``count`` words of ``length`` lowercase letters, all but the first with a leading space."""
    letters = rng.randbytes(count * length).translate(_LETTERS).decode("ascii")
    words = [letters[start: start + length] for start in range(0, count * length, length)]
    return [word if index == 0 else f" {word}" for index, word in enumerate(words)]


def _random_base64(rng: random.Random, size: int) -> str:
    """Exactly ``size`` characters of the base64 alphabet (what binary data looks like in JSON)."""
    if size <= 0:
        return ""
    raw = rng.randbytes(size * 3 // 4 + 3)
    return base64.b64encode(raw)[:size].decode("ascii")
