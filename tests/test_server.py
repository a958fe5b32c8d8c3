"""The OpenEnv-shaped env server and its client, over loopback (127.0.0.1 only)."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time

import gymnasium as gym
import numpy as np
import pytest

from toolgym.client import EnvClient, RemoteEnv, RemoteError
from toolgym.envs.arithmetic import ArithmeticEnv
from toolgym.server import EnvServer, ToolgymAction, ToolgymObservation

ARITH = "toolgym/ToolChoice-Arithmetic-v0"


@pytest.fixture
def server():
    with EnvServer(ARITH, env_kwargs={"difficulty": [1, 2]}, port=0, max_sessions=64) as srv:
        yield srv


def _raw(srv: EnvServer, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={"Content-Type": "application/json"} if body else {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def test_health_metadata_schema(server):
    client = EnvClient(server.url)
    health = client.health()
    assert health["status"] == "healthy" and health["max_sessions"] == 64 and health["active_sessions"] == 0
    meta = client.metadata()
    assert meta["name"] == ARITH and "calc[" in meta["instructions"]
    schema = client.schema()
    assert schema["action"]["properties"]["text"]["type"] == "string"
    assert set(schema) == {"action", "observation", "state"}
    assert schema["observation"] == ToolgymObservation.model_json_schema()
    client.close()


def test_episode_matches_a_local_env(server):
    """Same seed, same actions: the served episode equals the local one, tool costs included."""
    local = gym.make(ARITH, difficulty=[1, 2])
    with EnvClient(server.url) as client:
        for seed in range(3):
            r = client.reset(seed=seed)
            obs, info = local.reset(seed=seed)
            assert r.text == obs and r.observation["task_id"] == info["task_id"] and r.reward is None
            answer = local.unwrapped.expert_action()
            for action in ("calc[1 + 1]", "not an action", answer):
                r = client.step(action)
                obs, reward, term, trunc, info = local.step(action)
                assert r.text == obs and r.reward == pytest.approx(reward) and r.done == (term or trunc)
                got = r.info()
                for key in ("success", "score", "cost", "cost_total", "invalid_action", "tool_calls", "step"):
                    assert (
                        got[key] == pytest.approx(info[key]) if isinstance(info[key], float) else got[key] == info[key]
                    )
            assert r.done and r.observation["success"] and r.observation["cost_total"] == pytest.approx(0.1)
        state = client.state()
        assert state["step_count"] == 3 and state["done"] and state["success"] and state["env_id"] == ARITH


def test_sixteen_plus_concurrent_sessions(server):
    """24 clients at once, each its own session and task; bounded in requests and time."""
    n, errors, results = 24, [], {}
    barrier = threading.Barrier(n, timeout=20)

    def worker(i: int) -> None:
        try:
            client = EnvClient(server.url, timeout_s=20)
            barrier.wait()
            r = client.reset(task_id=f"L2-{i}")
            env = ArithmeticEnv(difficulty=2)
            env.reset(options={"task_id": f"L2-{i}"})
            for k in range(3):  # interleave: every session holds state across other sessions' requests
                r = client.step(f"calc[{i} + {k}]")
                assert r.text == str(i + k), r.text
            r = client.step(env.expert_action())
            results[i] = (client.session_id, r.observation["success"], r.reward, client.state()["step_count"])
            client.close()
        except Exception as exc:  # collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert time.monotonic() - start < 60
    assert not errors, errors
    assert len(results) == n and len({sid for sid, *_ in results.values()}) == n
    for _sid, success, reward, steps in results.values():
        assert success and reward == pytest.approx(1.0) and steps == 4  # costs were charged to earlier steps
    assert server.active_sessions == 0


def test_capacity_limit_and_close():
    with EnvServer(ARITH, port=0, max_sessions=2) as srv:
        a, b, c = EnvClient(srv.url), EnvClient(srv.url), EnvClient(srv.url)
        a.reset(seed=0)
        b.reset(seed=1)
        with pytest.raises(RemoteError) as err:
            c.reset(seed=2)
        assert err.value.status == 503 and err.value.code == "CAPACITY_REACHED" and "max-sessions" in str(err.value)
        a.close()
        assert c.reset(seed=2).text.startswith("Question:")
        assert srv.active_sessions == 2
        b.close()
        c.close()


def test_idle_sessions_are_reaped_when_a_slot_is_needed():
    with EnvServer(ARITH, port=0, max_sessions=1, session_timeout_s=0.2) as srv:
        a = EnvClient(srv.url)
        a.reset(seed=0)
        time.sleep(0.4)
        b = EnvClient(srv.url)
        b.reset(seed=1)
        with pytest.raises(RemoteError) as err:
            a.step("finish[1]")
        assert err.value.status == 404 and err.value.code == "SESSION_NOT_FOUND"
        b.close()


def test_bad_requests_get_clear_errors_and_the_server_stays_up(server):
    client = EnvClient(server.url)
    client.reset(seed=0)
    sid = client.session_id
    cases = [
        ("POST", "/step", b"{not json", 400, "INVALID_JSON"),
        ("POST", "/step", b"[1, 2]", 400, "INVALID_JSON"),
        ("POST", "/step", json.dumps({"session_id": sid}).encode(), 422, "VALIDATION_ERROR"),
        ("POST", "/step", json.dumps({"session_id": sid, "action": {"text": 5}}).encode(), 422, "VALIDATION_ERROR"),
        ("POST", "/step", json.dumps({"session_id": sid, "action": "calc[1]"}).encode(), 422, "VALIDATION_ERROR"),
        (
            "POST",
            "/step",
            json.dumps({"session_id": "nope", "action": {"text": "x"}}).encode(),
            404,
            "SESSION_NOT_FOUND",
        ),
        ("POST", "/reset", json.dumps({"task_id": "L9-1"}).encode(), 400, "BAD_OPTION"),
        ("POST", "/reset", json.dumps({"options": {"colour": 1}}).encode(), 400, "BAD_OPTION"),
        ("POST", "/reset", json.dumps({"seed": -1}).encode(), 422, "VALIDATION_ERROR"),
        ("POST", "/reset", json.dumps({"sed": 1}).encode(), 422, "VALIDATION_ERROR"),
        ("POST", "/nowhere", b"{}", 404, "NOT_FOUND"),
        ("GET", "/nowhere", None, 404, "NOT_FOUND"),
        ("GET", "/state", None, 422, "VALIDATION_ERROR"),
    ]
    for method, path, body, status, code in cases:
        got_status, payload = _raw(server, method, path, body)
        assert (got_status, payload["code"]) == (status, code), (path, body, payload)
        assert "expected" in payload["detail"], payload["detail"]
    assert server.active_sessions == 1  # refused resets opened no session
    # an LLM's malformed action is an observation, not an error
    r = client.step("I think the answer is 12")
    assert r.observation["invalid_action"] and "calc[" in r.text and not r.done
    r = client.step("finish[0]")
    assert r.done
    with pytest.raises(RemoteError) as err:
        client.step("finish[1]")
    assert err.value.status == 409 and err.value.code == "EPISODE_DONE"
    assert client.health()["status"] == "healthy"
    client.close()


def test_a_session_survives_a_client_reconnect(server):
    a = EnvClient(server.url)
    first = a.reset(task_id="L1-5")
    a.step("calc[2 + 2]")
    sid = a.session_id
    a.disconnect()  # the connection drops; the session stays on the server
    assert a.step("calc[3 + 3]").text == "6"  # the same client reconnects by itself
    del a
    b = EnvClient(server.url, session_id=sid)  # or a new client (another process) resumes it
    state = b.state()
    assert state["session_id"] == sid and state["step_count"] == 2 and not state["done"]
    assert state["task_id"] == first.observation["task_id"]
    env = ArithmeticEnv()
    env.reset(options={"task_id": "L1-5"})
    r = b.step(env.expert_action())
    assert r.done and r.observation["success"] and r.observation["cost_total"] == pytest.approx(0.2)
    b.close()


def test_remote_env_is_a_gymnasium_env(server):
    env = RemoteEnv(server.url)
    obs, info = env.reset(seed=3)
    assert isinstance(obs, str) and info["task_id"] and info["cost_total"] == 0
    obs, reward, terminated, truncated, info = env.step("calc[1+1]")
    assert obs == "2" and reward == pytest.approx(-0.1) and not terminated and not truncated
    assert info["tool_calls"][0]["name"] == "calc"
    env.close()
    assert server.active_sessions == 0


def test_dict_observations_round_trip():
    """VQA observations (image arrays) travel as base64 and come back equal."""
    env_id = "toolgym/ShapesVQA-v0"  # procedural: needs no data
    local = gym.make(env_id)
    obs, _ = local.reset(seed=0)
    assert isinstance(obs, dict) and any(isinstance(v, np.ndarray) for v in obs.values())
    with EnvServer(env_id, port=0) as srv:
        remote = RemoteEnv(srv.url)
        got, _ = remote.reset(seed=0)
        assert set(got) == set(obs)
        for k, v in obs.items():
            if isinstance(v, np.ndarray):
                np.testing.assert_array_equal(got[k], v)
            else:
                assert got[k] == v
        remote.close()


def test_models_reject_unknown_fields():
    with pytest.raises(ValueError):
        ToolgymAction.model_validate({"text": "x", "extra": 1})


def test_unknown_env_id_is_a_config_error():
    from toolgym.error import ConfigError

    with pytest.raises(ConfigError, match="expected a buildable env id"):
        EnvServer("toolgym/ToolChoice-Arithmetc-v0", port=0)


def test_serve_command_serves_until_stopped(tmp_path):
    """`toolgym serve` in a subprocess: health answers, an episode runs, the process stops on SIGTERM."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", "toolgym.benchmarks.cli", "serve", ARITH, "--port", str(port)]
    cmd += ["--env-kwargs", '{"difficulty": 1}', "--max-sessions", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        client = EnvClient(f"http://127.0.0.1:{port}", timeout_s=5, retries=0)
        deadline = time.monotonic() + 60
        while True:
            try:
                health = client.health()
                break
            except RemoteError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "the server did not come up in 60 s"
                time.sleep(0.2)
        assert health["max_sessions"] == 4
        assert client.reset(seed=0).observation["info"]["difficulty"] == 1
        client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_command_rejects_bad_env_kwargs():
    from typer.testing import CliRunner

    from toolgym.benchmarks.cli import app

    result = CliRunner().invoke(app, ["serve", ARITH, "--env-kwargs", "[1]"])
    assert result.exit_code == 2 and "expected a JSON object" in result.output
