"""The README's scenario example is a valid scenario (it is the first thing users copy)."""

import re
from pathlib import Path

from loadtest.scenario.loader import load_scenario_text

ROOT = Path(__file__).resolve().parents[1]


def test_readme_scenario_example_validates():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", readme, re.S)
    assert blocks, "the README shows a scenario"
    for block in blocks:
        scenario = load_scenario_text(block, file="README.md", base_dir=ROOT / "scenarios", environ={})
        assert scenario.mix


def test_readme_names_every_example_scenario():
    readme = (ROOT / "README.md").read_text()
    for path in (ROOT / "scenarios").glob("*.yaml"):
        assert f"`{path.stem}`" in readme, f"README does not mention scenarios/{path.name}"
