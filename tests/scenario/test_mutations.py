"""Mangled versions of the example scenarios: the loader either accepts them or raises ScenarioError with
located errors, never any other exception (that would reach the user as a traceback)."""

from __future__ import annotations

import random
from pathlib import Path

from loadtest.scenario.loader import ScenarioError, load_scenario_text
from loadtest.scenario.source import ParserName

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TOKENS = [
    "", "x", "-1", "[]", "{}", "null", "0", "1e9", "'", '"', ":", "- ", "${", "${UNSET_VAR}", "$$", "\t", "  ",
    "2s", "50/s", "{$text: -1}", "true", "~", "&a", "*a", "<<: *a", "!!python/object:os.system", "2024-01-01",
    "<<: [1, 2]", "*nowhere", "!!binary aGk=", ".inf", ".nan", "1e400", "999999999999999999999d", "10 secs",
    "[[[[[", "{a: &b [*b]}", "!!set {a}", "---", "...", "? [a]", "%YAML 1.2", "\x00", "\u00e9", "1e32",
    "{from: 1/s, to: 2/s}", "{$tokens: 3}", "! x", "|", ">-", "- - -", "'''", '"\\q"',
    "\x85", "\u2028", "\ufeff", "%TAG ! x:", "&a b", "*a b", "? a", ": b", "a: b: c", "{a, b}", "[a: b]",
    "!x!y z", "!<tag:a> b", "- !!str", "'a''b'", '"\\u00e9"', '"\\x41"', "#c", " #c", "<<", "= ", "@", "`",
    "\t- x", "a:\tb", "{a:b}", "[a, b]: c", "\r\n", "\r", "- ? a\n  : b", "&a [*a]", "*a:", "!!int 0x1F",
    "0o17", "1_000", "1:30", "0b101", "+.INF", "-.Inf", ".NaN", "Yes", "off", "~: 1", "'~'",
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


def _answer(text: str, parser: ParserName) -> list[str]:
    """The errors as printed, or [] for a valid file."""
    try:
        load_scenario_text(text, file="m.yaml", base_dir=SCENARIOS, environ={"RUNPOD_ENDPOINT_ID": "abc"},
                           parser=parser)
    except ScenarioError as exc:
        assert exc.errors
        for issue in exc.errors:
            assert issue.line >= 1 and issue.column >= 1 and issue.message
            assert "function-" not in issue.message and "function-" not in issue.path
        return [str(issue) for issue in exc.errors]
    return []


def test_mangled_scenarios_never_escape_as_other_exceptions() -> None:
    """... and both YAML parsers give the same answer, word for word, to every mangled file."""
    texts = [path.read_text(encoding="utf-8") for path in sorted(SCENARIOS.glob("*.yaml"))]
    rng = random.Random(20261128)
    rejected = 0
    for _ in range(1000):
        text = _mutate(rng.choice(texts), rng)
        answer = _answer(text, "libyaml")
        rejected += bool(answer)
        assert _answer(text, "python") == answer, text
    assert rejected > 330  # the mutations do break most files
