"""The official JavaScript ``openai`` package, unmodified, against the emulator's ``/openai/v1`` routes.

Needs ``node`` and ``npm``; the package is installed once into a cache directory
(``$LOADTEST_TEST_NPM_CACHE``, default ``~/.cache/loadtest-tests/openai-js``), so only the first run pays
for the download. Skipped, saying why, when node is missing or the registry cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

PACKAGE = "openai@7"
CACHE = Path(os.environ.get("LOADTEST_TEST_NPM_CACHE", Path.home() / ".cache" / "loadtest-tests" / "openai-js"))

SCRIPT = r"""
import OpenAI from "openai";

const client = new OpenAI({ apiKey: "any-key", baseURL: process.env.BASE_URL, maxRetries: 0 });
const out = {};
out.models = (await client.models.list()).data.map((m) => m.id);
const whole = await client.chat.completions.create({
  model: "js-model", messages: [{ role: "user", content: "Hello there" }], max_tokens: 4,
});
out.whole = { text: whole.choices[0].message.content, finish: whole.choices[0].finish_reason, usage: whole.usage };
const stream = await client.chat.completions.create({
  model: "js-model", messages: [{ role: "user", content: "Hello" }], stream: true,
  stream_options: { include_usage: true },
});
out.pieces = [];
for await (const chunk of stream) {
  if (chunk.choices.length && chunk.choices[0].delta.content) out.pieces.push(chunk.choices[0].delta.content);
  if (chunk.usage) out.usage = chunk.usage;
}
const completion = await client.completions.create({ model: "js-model", prompt: "abcdefgh", max_tokens: 2 });
out.completion = { text: completion.choices[0].text, usage: completion.usage };
try {
  await client.chat.completions.create({ model: "gpt-4o", messages: [{ role: "user", content: "x" }] });
} catch (error) {
  out.error = { status: error.status, param: error.param, code: error.code, type: error.type };
}
console.log(JSON.stringify(out));
"""


@pytest.fixture(scope="module")
def openai_js() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node and npm are needed for the JavaScript openai client test")
    if not (CACHE / "node_modules" / "openai" / "package.json").exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run([npm, "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(CACHE), PACKAGE],
                           check=True, capture_output=True, timeout=180)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            pytest.skip(f"could not install {PACKAGE} from the npm registry: {exc}")
    return CACHE


def test_javascript_client_streams_and_whole_answers(openai_js, emulator_factory):
    emu = emulator_factory({
        "id": "js", "workers_min": 1, "concurrency": 4, "cold_start": "20ms",
        "llm": {"models": ["js-model"], "output_tokens": 7, "decode_time": "5ms"},
    })
    script = openai_js / "check_emulator.mjs"  # next to node_modules, so `import "openai"` resolves
    script.write_text(SCRIPT)
    result = subprocess.run(
        [shutil.which("node") or "node", str(script)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "BASE_URL": f"{emu.base_url}/js/openai/v1"},
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["models"] == ["js-model"]
    assert out["whole"]["finish"] == "length" and len(out["whole"]["text"]) == 16
    assert out["whole"]["usage"] == {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}
    assert len(out["pieces"]) == 7 and all(len(piece) == 4 for piece in out["pieces"])
    assert out["usage"] == {"prompt_tokens": 2, "completion_tokens": 7, "total_tokens": 9}
    assert out["completion"]["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}
    assert out["error"] == {"status": 400, "param": "model", "code": "model_not_found",
                            "type": "invalid_request_error"}
