"""Mangled versions of the example scenarios: the loader either accepts them or raises ScenarioError with
located errors, never any other exception (that would reach the user as a traceback)."""

from __future__ import annotations

import random
from pathlib import Path

from loadtest.scenario.loader import ScenarioError, load_scenario_text

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TOKENS = [
    "", "x", "-1", "[]", "{}", "null", "0", "1e9", "'", '"', ":", "- ", "${", "${UNSET_VAR}", "$$", "\t", "  ",
    "2s", "50/s", "{$text: -1}", "true", "~", "&a", "*a", "<<: *a", "!!python/object:os.system", "2024-01-01",
]


def _mutate(text: str, rng: random.Random) -> str:
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        index = rng.randrange(len(lines))
        choice = rng.random()
        if choice < 0.3:
            del lines[index]
        elif choice < 0.6 and ":" in lines[index]:
            lines[index] = lines[index].partition(":")[0] + ": " + rng.choice(TOKENS)
        elif choice < 0.8:
            line = lines[index]
            cut = rng.randrange(len(line) + 1)
            lines[index] = line[:cut] + rng.choice(TOKENS) + line[cut:]
        else:
            other = rng.randrange(len(lines))
            lines[index], lines[other] = lines[other], lines[index]
    return "\n".join(lines)


def test_mangled_scenarios_never_escape_as_other_exceptions() -> None:
    texts = [path.read_text(encoding="utf-8") for path in sorted(SCENARIOS.glob("*.yaml"))]
    rng = random.Random(20261128)
    rejected = 0
    for _ in range(1500):
        text = _mutate(rng.choice(texts), rng)
        try:
            load_scenario_text(text, file="m.yaml", base_dir=SCENARIOS, environ={"RUNPOD_ENDPOINT_ID": "abc"})
        except ScenarioError as exc:
            rejected += 1
            assert exc.errors
            for issue in exc.errors:
                assert issue.line >= 1 and issue.column >= 1 and issue.message
                assert "function-" not in issue.message and "function-" not in issue.path
    assert rejected > 500  # the mutations do break most files
