"""Bad input never gets a 500: each case gets a 4xx with a JSON ``{"error": ...}`` body (the ``Api`` helper
also asserts the JSON content type and the absence of 500 on every answer)."""

from __future__ import annotations

import pytest

BASE = {"id": "ep", "workers_max": 1, "cold_start": "10ms", "execution_time": "10ms"}

SUBMISSION_CASES = [
    (b"", "empty"),
    (b"   ", "empty"),
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe\x00", "not"),
    (b"[1, 2]", "must be a JSON object"),
    (b'"text"', "must be a JSON object"),
    (b"null", "must be a JSON object"),
    (b"{}", "no 'input' field"),
    (b'{"inputs": {}}', "no 'input' field"),
    (b'{"input": null}', "'input' must be a JSON object"),
    (b'{"input": [1]}', "'input' must be a JSON object"),
    (b'{"input": "x"}', "'input' must be a JSON object"),
    (b'{"input": 3}', "'input' must be a JSON object"),
    (b'{"input": {}, "webhook": 5}', "'webhook' must be"),
    (b'{"input": {}, "webhook": "ftp://x"}', "'webhook' must be"),
    (b'{"input": {}, "policy": 1}', "'policy' must be a JSON object"),
    (b'{"input": {}, "policy": {"executionTimeout": "5s"}}', "policy.executionTimeout"),
    (b'{"input": {}, "policy": {"executionTimeout": 10}}', "between"),
    (b'{"input": {}, "policy": {"executionTimeout": true}}', "policy.executionTimeout"),
    (b'{"input": {}, "policy": {"executionTimeout": 5000.5}}', "whole number"),
    (b'{"input": {}, "policy": {"ttl": -1}}', "policy.ttl"),
    (b'{"input": {}, "policy": {"ttl": 5}}', "between 10000"),
    (b'{"input": {}, "policy": {"ttl": 999999999999}}', "policy.ttl"),
    (b'{"input": {}, "policy": {"lowPriority": "yes"}}', "policy.lowPriority"),
    (b'{"input": {}, "s3Config": "bucket"}', "'s3Config' must be"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
]


@pytest.mark.parametrize("op", ["run", "runsync"])
def test_submission_matrix(serve, op):
    async def body(api):
        for raw, message in SUBMISSION_CASES:
            status, answer, _ = await api.post(op, raw=raw)
            assert status == 400, (raw[:60], answer)
            assert message in answer["error"], (raw[:60], answer)
        truth = await api.ground_truth()
        assert truth["requests"][op] == {"400": len(SUBMISSION_CASES)}
        assert truth["jobs"]["submitted"] == 0

    serve(BASE, body)


def test_valid_policy_and_unknown_top_level_keys_are_accepted(serve):
    async def body(api):
        payload = {"input": {}, "policy": {"executionTimeout": 5000, "ttl": 10000, "lowPriority": False,
                                           "somethingNew": 1}, "extra": True}
        status, _answer, _ = await api.post("run", payload)
        assert status == 200

    serve(BASE, body)


def test_job_routes_with_unknown_or_missing_id(serve):
    async def body(api):
        for method, path in [("GET", "status/nope"), ("POST", "status/nope"), ("GET", "status-sync/nope"),
                             ("GET", "stream/nope"), ("POST", "cancel/nope"), ("POST", "retry/nope"),
                             ("GET", "status"), ("GET", "status/"), ("POST", "cancel"), ("GET", "status/a/b")]:
            status, answer, _ = await api.request(method, path)
            assert status == 404 and "error" in answer, (method, path, answer)

    serve(BASE, body)


def test_query_parameters_are_checked(serve):
    async def body(api):
        job_id = await api.run({})
        for path in ["runsync?wait=999", "runsync?wait=300001", "runsync?wait=abc"]:
            status, answer, _ = await api.post(path, {"input": {}})
            assert (status, answer) == (400, {"error": "wait is invalid; must be between 1000 and 300000"})
        for path in [f"status-sync/{job_id}?wait=0", f"stream/{job_id}?wait=-5"]:
            assert (await api.get(path))[0] == 400
        for path in [f"status/{job_id}?ttl=-1", f"status/{job_id}?ttl=soon"]:
            status, answer, _ = await api.get(path)
            assert status == 400 and "ttl is invalid" in answer["error"]
        assert api.runtime.counters.submitted["runsync"] == 0

    serve(BASE, body)


def test_retry_of_a_job_that_did_not_fail_is_400(serve):
    async def body(api):
        queued = await api.run({"mock_delay": 2})
        status, answer, _ = await api.post(f"retry/{queued}")
        assert status == 400 and "only FAILED or TIMED_OUT" in answer["error"]
        await api.post(f"cancel/{queued}")
        status, answer, _ = await api.post(f"retry/{queued}")
        assert status == 400 and "CANCELLED" in answer["error"]

    serve(BASE, body)


def test_wrong_methods_get_405_with_allow(serve):
    async def body(api):
        for method, path, allowed in [("GET", "run", "POST"), ("DELETE", "status/x", "GET, POST"),
                                      ("POST", "health", "GET"), ("GET", "purge-queue", "POST")]:
            status, _answer, headers = await api.request(method, path)
            assert status == 405 and headers["Allow"] == allowed, (method, path)

    serve(BASE, body)


def test_auth_missing_empty_and_both_forms(serve):
    async def body(api):
        assert (await api.get("health", headers={}))[0] == 401
        assert (await api.get("health", headers={"Authorization": "Bearer "}))[0] == 401
        assert (await api.get("health", headers={"Authorization": "anything"}))[0] == 200
        assert (await api.get("health", headers={"Authorization": "Bearer anything"}))[0] == 200

    serve(BASE, body)


def test_configured_key_rejects_wrong_key_and_never_echoes_it(serve, monkeypatch):
    monkeypatch.setenv("LOADTEST_BAD_INPUT_KEY", "s3cr3t-value")
    config = dict(BASE, api_key_env="LOADTEST_BAD_INPUT_KEY")

    async def body(api):
        status, answer, _ = await api.get("health", headers={"Authorization": "Bearer wrong-guess"})
        assert status == 401 and answer == {"error": "invalid API key"}
        assert (await api.get("health", headers={"Authorization": "s3cr3t-value"}))[0] == 200
        assert (await api.get("health", headers={"Authorization": "bearer s3cr3t-value"}))[0] == 200
        async with api.session.get(f"{api.server.admin_url}/config") as response:
            assert "s3cr3t-value" not in await response.text()

    serve(config, body)


def test_unknown_paths_are_json_404(serve):
    async def body(api):
        root = api.server.base_url.removesuffix("/v2")
        for url in [f"{root}/", f"{root}/v1/ep/run", f"{root}/v2/", f"{root}/v2/ep/unknown-op",
                    f"{root}/v2/ep/health/extra"]:
            status, answer, _ = await api.get(url, absolute=True)
            assert status == 404 and "error" in answer, url

    serve(BASE, body)


def test_admin_bad_parameters(serve):
    async def body(api):
        async with api.session.get(f"{api.server.admin_url}/ground-truth/jobs?limit=-1") as response:
            assert response.status == 400 and "error" in await response.json()
        async with api.session.get(f"{api.server.admin_url}/ground-truth?endpoint=nope") as response:
            assert response.status == 404 and response.content_type == "application/json"

    serve(BASE, body)
