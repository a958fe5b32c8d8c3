"""The Python client of :mod:`toolgym.server`: :class:`EnvClient` (the protocol) and :class:`RemoteEnv` (Gymnasium).

:class:`EnvClient` keeps one HTTP/1.1 connection and opens a new one whenever the old one broke; the session lives
on the server, so a client built with an existing ``session_id`` (after a crash, in another process) continues
that episode. One client serves one thread: give each thread its own.

Example:
    >>> from toolgym.server import EnvServer  # doctest: +SKIP
    >>> with EnvServer("toolgym/ToolChoice-Arithmetic-v0", port=0) as server:  # doctest: +SKIP
    ...     env = RemoteEnv(server.url)
    ...     obs, info = env.reset(seed=0)
    ...     obs, reward, terminated, truncated, info = env.step("finish[12]")
"""

from __future__ import annotations

import base64
import http.client
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import gymnasium as gym
import numpy as np

from toolgym.error import ToolgymError
from toolgym.spaces import Utf8Text

__all__ = ["EnvClient", "RemoteEnv", "RemoteError", "StepResult"]


class RemoteError(ToolgymError):
    """The server answered a request with an error (``status``, ``code`` and the server's message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Keep the status and code beside the message."""
        super().__init__(f"[{status} {code}] {message}")
        self.status = status
        self.code = code


@dataclass(frozen=True)
class StepResult:
    """A reset or step result: the observation's fields, the reward and whether the episode is over.

    Attributes:
        observation: The observation as the server sent it (``text``, ``success``, ``cost``, ``tool_calls``...).
        reward: The reward (``None`` after reset).
        done: Whether the episode ended (terminated or truncated).
        session_id: The session the result belongs to.
    """

    observation: dict[str, Any]
    reward: float | None
    done: bool
    session_id: str = ""

    @property
    def text(self) -> str:
        """The observation text."""
        return str(self.observation.get("text", ""))

    def info(self) -> dict[str, Any]:
        """The Gymnasium ``info`` dict rebuilt from the observation's fields."""
        from toolgym.core import INFO_KEYS

        obs = self.observation
        info = {k: obs[k] for k in INFO_KEYS if k in obs}
        if obs.get("admissible_actions") is not None:
            info["admissible_actions"] = list(obs["admissible_actions"])
        info.update(obs.get("info", {}))
        return info


def _decode_field(value: Any) -> Any:
    if isinstance(value, dict) and "__ndarray__" in value:
        raw = base64.b64decode(value["__ndarray__"])
        return np.frombuffer(raw, dtype=np.dtype(value["dtype"])).reshape(value["shape"]).copy()
    return value


@dataclass
class EnvClient:
    """A client of one session of a :class:`~toolgym.server.EnvServer`.

    Args:
        base_url: The server, e.g. ``"http://127.0.0.1:8000"``.
        session_id: Continue this session (e.g. after a reconnect); ``None`` opens one at the first reset.
        timeout_s: Socket timeout per request.
        retries: Reconnect attempts after a broken connection (the request is sent again: reset and state are
            safe to repeat; a step is repeated only when the connection broke before the request was sent).
    """

    base_url: str
    session_id: str | None = None
    timeout_s: float = 60.0
    retries: int = 2
    _conn: http.client.HTTPConnection | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ToolgymError(
                f"EnvClient: expected a base URL like http://127.0.0.1:8000, got {self.base_url!r}; "
                "pass the server's url."
            )
        self._host = parts.hostname
        self._port = parts.port or 80

    # ------------------------------------------------------------------------------------ transport
    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self.timeout_s)
        return self._conn

    def disconnect(self) -> None:
        """Drop the connection (the session stays open on the server; the next request reconnects)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8") if body is not None else None
        headers = {"Content-Type": "application/json"} if data is not None else {}
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            conn = self._connection()
            sent = False
            try:
                conn.request(method, path, body=data, headers=headers)
                sent = True
                response = conn.getresponse()
                payload = response.read()
                status = response.status
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                last = exc
                self.disconnect()
                if sent and path == "/step":  # the step may have been applied: do not apply it twice
                    raise RemoteError(
                        0,
                        "CONNECTION_ERROR",
                        f"expected a response to /step, got {type(exc).__name__}: {exc}; the step may or may not "
                        "have been applied: read state() (its step_count) before stepping again.",
                    ) from exc
                time.sleep(min(0.05 * 2**attempt, 1.0))
                continue
            try:
                parsed = json.loads(payload or b"{}")
            except json.JSONDecodeError as exc:
                raise RemoteError(
                    status, "BAD_RESPONSE", f"expected JSON from the server, got {payload[:200]!r}"
                ) from exc
            if status >= 400:
                raise RemoteError(status, str(parsed.get("code", "")), str(parsed.get("detail", parsed)))
            return parsed
        raise RemoteError(
            0,
            "CONNECTION_ERROR",
            f"expected a reachable server at {self.base_url}, got {type(last).__name__}: {last}; "
            "check that `toolgym serve` is running.",
        )

    # ------------------------------------------------------------------------------------ protocol
    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return self._request("GET", "/health")

    def metadata(self) -> dict[str, Any]:
        """``GET /metadata``."""
        return self._request("GET", "/metadata")

    def schema(self) -> dict[str, Any]:
        """``GET /schema``."""
        return self._request("GET", "/schema")

    def reset(
        self,
        *,
        seed: int | None = None,
        task_id: str | None = None,
        options: dict[str, Any] | None = None,
        episode_id: str | None = None,
    ) -> StepResult:
        """Start an episode (opening the session on first use).

        Args:
            seed: Reset seed.
            task_id: A task of the env.
            options: Other reset options of the env.
            episode_id: A label for the episode (OpenEnv's field).

        Returns:
            The first observation.
        """
        body: dict[str, Any] = {"seed": seed, "task_id": task_id, "options": dict(options or {})}
        if episode_id is not None:
            body["episode_id"] = episode_id
        if self.session_id is not None:
            body["session_id"] = self.session_id
        return self._result(self._request("POST", "/reset", body))

    def step(self, action: str) -> StepResult:
        """Send one action text.

        Raises:
            RemoteError: No session yet (call :meth:`reset`), or the server refused the request.
        """
        if self.session_id is None:
            raise RemoteError(0, "NO_SESSION", "expected reset() before step(), got step() with no session.")
        return self._result(self._request("POST", "/step", {"session_id": self.session_id, "action": {"text": action}}))

    def state(self) -> dict[str, Any]:
        """``GET /state`` of this session."""
        if self.session_id is None:
            raise RemoteError(0, "NO_SESSION", "expected reset() before state(), got state() with no session.")
        return self._request("GET", f"/state?session_id={quote(self.session_id)}")

    def close(self) -> None:
        """End the session on the server and drop the connection."""
        if self.session_id is not None:
            try:
                self._request("POST", "/close", {"session_id": self.session_id})
            except RemoteError as exc:
                if exc.code != "SESSION_NOT_FOUND":
                    raise
            self.session_id = None
        self.disconnect()

    def _result(self, payload: dict[str, Any]) -> StepResult:
        self.session_id = str(payload.get("session_id") or self.session_id or "")
        return StepResult(
            observation=dict(payload.get("observation", {})),
            reward=payload.get("reward"),
            done=bool(payload.get("done", False)),
            session_id=self.session_id,
        )

    def __enter__(self) -> EnvClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RemoteEnv(gym.Env):
    """A served env as a Gymnasium env: ``reset`` / ``step`` over :class:`EnvClient`, the 5-tuple back.

    Text observations come back as text; dict observations as dicts (arrays decoded). ``info`` carries the
    standard keys (:data:`toolgym.core.INFO_KEYS`).

    Args:
        base_url: The server.
        session_id: Continue an existing session.
        timeout_s: Socket timeout per request.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (Gymnasium's class attribute)

    def __init__(self, base_url: str, *, session_id: str | None = None, timeout_s: float = 60.0) -> None:
        """Connect lazily (no request until the first reset)."""
        self.client = EnvClient(base_url, session_id=session_id, timeout_s=timeout_s)
        self.action_space = Utf8Text(1 << 20)
        self.observation_space = Utf8Text(1 << 20)

    def _obs(self, result: StepResult) -> Any:
        fields = result.observation.get("fields") or {}
        return {k: _decode_field(v) for k, v in fields.items()} if fields else result.text

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Start an episode (``options={"task_id": ...}`` selects a task)."""
        super().reset(seed=seed)
        opts = dict(options or {})
        task_id = opts.pop("task_id", None)
        result = self.client.reset(seed=seed, task_id=None if task_id is None else str(task_id), options=opts)
        return self._obs(result), result.info()

    def step(self, action: str) -> tuple[Any, float, bool, bool, dict]:
        """Send an action; a malformed one comes back as an observation with ``info["invalid_action"]``."""
        result = self.client.step(action)
        obs = result.observation
        return (
            self._obs(result),
            float(result.reward or 0.0),
            bool(obs.get("terminated", False)),
            bool(obs.get("truncated", False)),
            result.info(),
        )

    def close(self) -> None:
        """End the session on the server."""
        self.client.close()
