"""A key pasted where a variable name belongs is refused without being repeated in the message."""

from __future__ import annotations

import pytest

from loadtest.scenario.loader import ScenarioError, load_scenario_text

PASTED_KEY = "rpa_SEKRIT0123456789-abc"


@pytest.mark.parametrize(
    "target",
    [
        f"target: {{endpoint_id: abc, api_key_env: {PASTED_KEY}}}",
        f"target: {{emulator: {{api_key_env: {PASTED_KEY}}}}}",
    ],
)
def test_api_key_env_error_does_not_echo_the_value(target: str, tmp_path) -> None:
    text = f"name: s\nduration: 1s\n{target}\nmix: [{{flow: run_poll}}]\n"
    with pytest.raises(ScenarioError) as caught:
        load_scenario_text(text, file="s.yaml", base_dir=tmp_path, environ={})
    messages = "\n".join(str(issue) for issue in caught.value.errors)
    assert "api_key_env" in messages
    assert PASTED_KEY not in messages
