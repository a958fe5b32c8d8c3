"""Serve a toolgym environment over HTTP, in the shape of OpenEnv's protocol: ``toolgym serve ENV_ID``.

Each client session owns one environment instance (``gym.make(env_id, **env_kwargs)``); sessions run side by side
on a thread per connection, up to ``max_sessions`` of them, and a session idle for ``session_timeout_s`` is closed.
A session lives on the server, not on the connection: a client that drops its connection and reconnects with
the same ``session_id`` finds its episode where it left it.

Endpoints (JSON bodies; ``docs/training.md`` says which parts match OpenEnv and which are toolgym's own):

============================  ==========================================================================
``GET  /health``              ``{"status": "healthy", "active_sessions", "max_sessions", "env_id"}``
``GET  /metadata``            name, description, version, the env's instructions
``GET  /schema``              JSON schemas of the action, observation and state models
``POST /reset``               ``{seed?, episode_id?, session_id?, task_id?, options?}`` -> ``{observation,
                              reward, done, session_id}``; without ``session_id`` a new session is opened
``POST /step``                ``{session_id, action: {"text": ...}, timeout_s?, request_id?}`` -> ``{observation,
                              reward, done, session_id}``
``GET  /state?session_id=``   the session's :class:`ToolgymState`
``POST /close``               ``{session_id}``: end a session and free its slot
============================  ==========================================================================

An action the env cannot parse is not an error: it is an observation with ``invalid_action`` set, as in every
toolgym env. Requests that are malformed as *requests* get a JSON error ``{"detail", "code"}`` with the HTTP
status that fits (400 bad JSON, 404 unknown session or route, 409 step after the episode ended, 422 a body
that does not validate, 503 at capacity, 500 an env that raised); the server never goes down for them.

Example:
    >>> with EnvServer("toolgym/ToolChoice-Arithmetic-v0", port=0) as server:  # doctest: +SKIP
    ...     server.url
    'http://127.0.0.1:54321'
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from toolgym.error import ConfigError, ResetNeeded
from toolgym.httpserver import BackgroundHTTPServer
from toolgym.records import to_jsonable

__all__ = [
    "EnvServer",
    "ErrorCode",
    "ResetRequest",
    "StepRequest",
    "ToolgymAction",
    "ToolgymObservation",
    "ToolgymState",
    "encode_observation",
]

logger = logging.getLogger(__name__)

#: Largest request body accepted (bytes).
MAX_BODY_BYTES = 4 * 1024 * 1024


class ErrorCode:
    """The ``code`` of an error response (OpenEnv's names where it has one)."""

    INVALID_JSON = "INVALID_JSON"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    CAPACITY_REACHED = "CAPACITY_REACHED"
    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    EPISODE_DONE = "EPISODE_DONE"
    NOT_FOUND = "NOT_FOUND"
    BAD_OPTION = "BAD_OPTION"


# ---------------------------------------------------------------------------------------------- typed models
class ToolgymAction(BaseModel):
    """An action: the text the agent wrote (``search[...]``, ``calc[...]``, a JSON tool call, fenced code...)."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The action text, in the env's grammar (see GET /metadata).")
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form, ignored by the env.")


class ToolgymObservation(BaseModel):
    """What the env answered: its text, the reward (tool costs included) and the standard ``info`` keys."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="The observation text (for dict observations: their text fields joined).")
    fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Dict observations' fields; arrays as {'__ndarray__': base64, 'dtype', 'shape'}.",
    )
    done: bool = False
    reward: float | None = None
    terminated: bool = False
    truncated: bool = False
    task_id: str = ""
    step: int = 0
    success: bool = False
    score: float = 0.0
    task_reward: float = 0.0
    cost: float = 0.0
    cost_total: float = 0.0
    cost_breakdown: dict[str, float] = Field(default_factory=dict)
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    invalid_action: bool = False
    feedback: str = ""
    admissible_actions: list[str] | None = None
    info: dict[str, Any] = Field(default_factory=dict, description="The env's other info keys.")
    metadata: dict[str, Any] = Field(default_factory=dict)


class ToolgymState(BaseModel):
    """A session's state (OpenEnv's ``episode_id`` / ``step_count`` plus toolgym's bookkeeping)."""

    model_config = ConfigDict(extra="allow")

    episode_id: str | None = None
    step_count: int = 0
    session_id: str = ""
    env_id: str = ""
    task_id: str = ""
    done: bool = True
    success: bool = False
    score: float = 0.0
    cost_total: float = 0.0
    state_key: str | None = None


class ResetRequest(BaseModel):
    """Body of ``POST /reset`` (OpenEnv's fields ``seed`` and ``episode_id``, plus toolgym's)."""

    model_config = ConfigDict(extra="forbid")

    seed: int | None = Field(default=None, ge=0)
    episode_id: str | None = Field(default=None, max_length=255)
    session_id: str | None = Field(default=None, max_length=255)
    task_id: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


class StepRequest(BaseModel):
    """Body of ``POST /step`` (OpenEnv's fields plus ``session_id``)."""

    model_config = ConfigDict(extra="forbid")

    action: ToolgymAction
    session_id: str = Field(max_length=255)
    timeout_s: float | None = Field(default=None, gt=0)
    request_id: str | None = Field(default=None, max_length=255)


class _CloseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    session_id: str = Field(max_length=255)


_STANDARD = {
    "task_id",
    "step",
    "success",
    "score",
    "task_reward",
    "cost",
    "cost_total",
    "cost_breakdown",
    "tool_calls",
    "invalid_action",
    "feedback",
    "admissible_actions",
}


def _encode_value(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {
            "__ndarray__": base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii"),
            "dtype": str(value.dtype),
            "shape": list(value.shape),
        }
    return to_jsonable(value)


def encode_observation(
    obs: Any, info: Mapping[str, Any], *, reward: float | None, terminated: bool, truncated: bool
) -> ToolgymObservation:
    """Turn a Gymnasium ``(obs, reward, terminated, truncated, info)`` into a :class:`ToolgymObservation`.

    Args:
        obs: The observation (text, or a dict of text and arrays).
        info: The step's ``info``.
        reward: The reward (``None`` after reset).
        terminated: Whether the task ended.
        truncated: Whether the step limit ended the episode.

    Returns:
        The typed observation.
    """
    fields: dict[str, Any] = {}
    if isinstance(obs, Mapping):
        fields = {str(k): _encode_value(v) for k, v in obs.items()}
        text = "\n".join(f"{k}: {v}" for k, v in obs.items() if isinstance(v, str) and v)
    else:
        text = str(obs)
    extra = {k: to_jsonable(v) for k, v in info.items() if k not in _STANDARD}
    return ToolgymObservation(
        text=text,
        fields=fields,
        done=bool(terminated or truncated),
        reward=reward,
        terminated=bool(terminated),
        truncated=bool(truncated),
        task_id=str(info.get("task_id", "")),
        step=int(info.get("step", 0)),
        success=bool(info.get("success", False)),
        score=float(info.get("score", 0.0)),
        task_reward=float(info.get("task_reward", 0.0)),
        cost=float(info.get("cost", 0.0)),
        cost_total=float(info.get("cost_total", 0.0)),
        cost_breakdown={str(k): float(v) for k, v in dict(info.get("cost_breakdown", {})).items()},
        tool_calls=[to_jsonable(c) for c in info.get("tool_calls", [])],
        invalid_action=bool(info.get("invalid_action", False)),
        feedback=str(info.get("feedback", "")),
        admissible_actions=list(info["admissible_actions"]) if info.get("admissible_actions") is not None else None,
        info=extra,
    )


def _result(obs: ToolgymObservation, session_id: str) -> dict[str, Any]:
    """OpenEnv's response shape: the observation without done/reward/metadata, then reward and done."""
    return {
        "observation": obs.model_dump(exclude={"done", "reward", "metadata"}),
        "reward": obs.reward,
        "done": obs.done,
        "session_id": session_id,
    }


# ---------------------------------------------------------------------------------------------- sessions
class _RequestError(Exception):
    def __init__(self, status: int, code: str, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.errors = errors


class _Session:
    def __init__(self, session_id: str, env: Any) -> None:
        self.id = session_id
        self.env = env
        self.lock = threading.Lock()
        self.created = time.monotonic()
        self.last_used = self.created
        self.episode_id: str | None = None
        self.started = False
        self.last: ToolgymObservation | None = None


class EnvServer(BackgroundHTTPServer):
    """An HTTP server of one registered env id: one env per session, sessions capped and reaped when idle.

    Args:
        env_id: A registered id, e.g. ``"toolgym/ToolChoice-Arithmetic-v0"``.
        env_kwargs: Passed to ``gym.make`` for every session (e.g. ``{"difficulty": 1, "cost_weight": 0.5}``).
        host: The interface to bind (default loopback only; bind others deliberately).
        port: The port (0: any free port; read :attr:`port` after :meth:`start`).
        max_sessions: Sessions open at once; a new one beyond it is refused with 503 ``CAPACITY_REACHED``.
        session_timeout_s: A session unused this long is closed (its slot freed) when a slot is needed.

    Raises:
        ConfigError: An argument is out of range, or ``env_id`` cannot be built.
    """

    def __init__(
        self,
        env_id: str,
        *,
        env_kwargs: Mapping[str, Any] | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
        max_sessions: int = 64,
        session_timeout_s: float = 600.0,
    ) -> None:
        """Check the arguments and build one env to validate ``env_id`` (see the class docstring)."""
        import gymnasium as gym

        if not isinstance(max_sessions, int) or max_sessions < 1:
            raise ConfigError(f"max_sessions: expected a positive integer, got {max_sessions!r}.")
        if session_timeout_s <= 0:
            raise ConfigError(f"session_timeout_s: expected a positive number of seconds, got {session_timeout_s!r}.")
        self.env_id = env_id
        self.env_kwargs = dict(env_kwargs or {})
        self.host = host
        self.port = port
        self.max_sessions = max_sessions
        self.session_timeout_s = float(session_timeout_s)
        try:
            probe = gym.make(env_id, **self.env_kwargs)
        except gym.error.Error as exc:
            raise ConfigError(f"EnvServer: expected a buildable env id, got {env_id!r}: {exc}") from exc
        base = probe.unwrapped
        self._instructions = base.instructions() if hasattr(base, "instructions") else ""
        self._description = (type(base).__doc__ or "").strip().split("\n", 1)[0]
        probe.close()
        self._sessions: dict[str, _Session] = {}
        self._lock = threading.Lock()
        self.requests = 0

    # ------------------------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        """The base URL clients connect to."""
        return f"http://{self.host}:{self.port}"

    thread_name = "toolgym-env-server"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        return _make_handler(self)

    def _describe(self) -> str:
        return f"{self.env_id} (max {self.max_sessions} sessions)"

    def _on_stop(self) -> None:
        """Close every session's env."""
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), {}
        for s in sessions:
            s.env.close()

    @property
    def active_sessions(self) -> int:
        """Sessions open now."""
        with self._lock:
            return len(self._sessions)

    # ------------------------------------------------------------------------------------ sessions
    def _reap(self, now: float) -> None:
        """Close sessions idle past the timeout (call with ``self._lock`` held)."""
        stale = [s for s in self._sessions.values() if now - s.last_used > self.session_timeout_s]
        for s in stale:
            if s.lock.acquire(blocking=False):  # a session in use is not idle
                try:
                    del self._sessions[s.id]
                    s.env.close()
                    logger.info("closed idle session %s", s.id)
                finally:
                    s.lock.release()

    def _open(self) -> _Session:
        import gymnasium as gym

        with self._lock:
            if len(self._sessions) >= self.max_sessions:
                self._reap(time.monotonic())
            if len(self._sessions) >= self.max_sessions:
                raise _RequestError(
                    503,
                    ErrorCode.CAPACITY_REACHED,
                    f"expected a free session slot, got {len(self._sessions)} of {self.max_sessions} in use; "
                    "close a session (POST /close), wait for idle ones to time out, or start the server with a "
                    "larger --max-sessions.",
                )
            session = _Session(uuid.uuid4().hex, None)
            self._sessions[session.id] = session  # hold the slot while the env is built
        try:
            session.env = gym.make(self.env_id, **self.env_kwargs)
        except Exception:
            with self._lock:
                self._sessions.pop(session.id, None)
            raise
        return session

    def _get(self, session_id: str) -> _Session:
        with self._lock:
            session = self._sessions.get(session_id)
        if session is None:
            raise _RequestError(
                404,
                ErrorCode.SESSION_NOT_FOUND,
                f"expected an open session id, got {session_id!r} (closed, timed out after "
                f"{self.session_timeout_s:g} s idle, or never opened); "
                "call POST /reset without session_id to open one.",
            )
        return session

    # ------------------------------------------------------------------------------------ operations
    def reset(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /reset``: open (or reuse) a session and start an episode."""
        req = ResetRequest.model_validate(body)
        session = self._get(req.session_id) if req.session_id else self._open()
        options = dict(req.options)
        if req.task_id is not None:
            options["task_id"] = req.task_id
        with session.lock:
            try:
                obs, info = session.env.reset(seed=req.seed, options=options or None)
            except ConfigError as exc:  # unknown task id, unknown option
                if not req.session_id:
                    self._drop(session)
                raise _RequestError(400, ErrorCode.BAD_OPTION, str(exc)) from exc
            except Exception:
                if not req.session_id:
                    self._drop(session)
                raise
            session.started = True
            session.episode_id = req.episode_id or uuid.uuid4().hex[:16]
            session.last = encode_observation(obs, info, reward=None, terminated=False, truncated=False)
            session.last_used = time.monotonic()
            return _result(session.last, session.id)

    def step(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /step``: one action in a session's episode."""
        req = StepRequest.model_validate(body)
        session = self._get(req.session_id)
        with session.lock:
            session.last_used = time.monotonic()
            if not session.started:
                raise _RequestError(
                    409, ErrorCode.EPISODE_DONE, "expected POST /reset before the first step, got /step."
                )
            try:
                obs, reward, terminated, truncated, info = session.env.step(req.action.text)
            except ResetNeeded as exc:
                raise _RequestError(
                    409,
                    ErrorCode.EPISODE_DONE,
                    "expected a running episode, got /step after it ended; call POST /reset with this session_id.",
                ) from exc
            session.last = encode_observation(obs, info, reward=reward, terminated=terminated, truncated=truncated)
            session.last_used = time.monotonic()
            return _result(session.last, session.id)

    def state(self, session_id: str | None) -> dict[str, Any]:
        """``GET /state``: the session's bookkeeping (not its snapshot, which may hold large objects)."""
        if not session_id:
            raise _RequestError(
                422, ErrorCode.VALIDATION_ERROR, "expected ?session_id=<id from /reset>, got no session_id."
            )
        session = self._get(session_id)
        with session.lock:
            session.last_used = time.monotonic()
            base = session.env.unwrapped
            last = session.last
            started = session.started
            state = ToolgymState(
                episode_id=session.episode_id,
                step_count=int(getattr(base, "elapsed_steps", 0)) if started else 0,
                session_id=session.id,
                env_id=self.env_id,
                task_id=last.task_id if last else "",
                done=bool(getattr(base, "done", True)),
                success=last.success if last else False,
                score=last.score if last else 0.0,
                cost_total=last.cost_total if last else 0.0,
                state_key=base.state_key() if started and hasattr(base, "state_key") else None,
            )
        return state.model_dump()

    def close_session(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /close``: end a session."""
        req = _CloseRequest.model_validate(body)
        session = self._get(req.session_id)
        self._drop(session)
        return {"closed": req.session_id}

    def _drop(self, session: _Session) -> None:
        with self._lock:
            self._sessions.pop(session.id, None)
        if session.env is not None:
            session.env.close()

    def health(self) -> dict[str, Any]:
        """``GET /health``."""
        return {
            "status": "healthy",
            "env_id": self.env_id,
            "active_sessions": self.active_sessions,
            "max_sessions": self.max_sessions,
        }

    def metadata(self) -> dict[str, Any]:
        """``GET /metadata`` (OpenEnv's ``EnvironmentMetadata`` fields, plus the env's instructions)."""
        import toolgym

        return {
            "name": self.env_id,
            "description": self._description,
            "version": toolgym.__version__,
            "author": "toolgym",
            "documentation_url": None,
            "readme_content": None,
            "instructions": self._instructions,
            "env_kwargs": to_jsonable(self.env_kwargs),
        }

    def schema(self) -> dict[str, Any]:
        """``GET /schema``: the action, observation and state JSON schemas."""
        return {
            "action": ToolgymAction.model_json_schema(),
            "observation": ToolgymObservation.model_json_schema(),
            "state": ToolgymState.model_json_schema(),
        }


def _make_handler(server: EnvServer) -> type[BaseHTTPRequestHandler]:
    posts = {"/reset": server.reset, "/step": server.step, "/close": server.close_session}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, fmt: str, *args: Any) -> None:
            logger.debug("%s - " + fmt, self.address_string(), *args)

        def _send(self, status: int, payload: Mapping[str, Any]) -> None:
            data = json.dumps(payload, allow_nan=False, default=str).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, status: int, code: str, message: str, errors: list[Any] | None = None) -> None:
            payload: dict[str, Any] = {"detail": message, "code": code}
            if errors is not None:
                payload["errors"] = errors
            self._send(status, payload)

        def _run(self, fn: Any, *args: Any) -> None:
            server.requests += 1
            try:
                payload = fn(*args)
            except _RequestError as exc:
                self._error(exc.status, exc.code, str(exc), exc.errors)
            except ValidationError as exc:
                errors = to_jsonable(exc.errors(include_url=False, include_context=False))
                first = errors[0] if errors else {}
                where = ".".join(str(p) for p in first.get("loc", ())) or "body"
                self._error(
                    422,
                    ErrorCode.VALIDATION_ERROR,
                    f"expected a valid request body, got {where}: {first.get('msg', 'invalid')}; "
                    "see GET /schema for the action model (an action is {'text': '<action>'}).",
                    errors,
                )
            except Exception as exc:
                logger.exception("request failed")
                self._error(500, ErrorCode.EXECUTION_ERROR, f"the env raised {type(exc).__name__}: {exc}")
            else:
                self._send(200, payload)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"
            if path == "/health":
                self._run(server.health)
            elif path == "/metadata":
                self._run(server.metadata)
            elif path == "/schema":
                self._run(server.schema)
            elif path == "/state":
                query = parse_qs(parts.query)
                sid = (query.get("session_id") or [self.headers.get("X-Session-Id") or ""])[0]
                self._run(server.state, sid)
            else:
                self._error(
                    404, ErrorCode.NOT_FOUND, f"expected GET /health, /metadata, /schema or /state, got GET {path}."
                )

        def do_POST(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path.rstrip("/")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if length < 0 or length > MAX_BODY_BYTES:
                self._error(
                    413 if length > 0 else 400,
                    ErrorCode.INVALID_JSON,
                    f"expected a JSON body of at most {MAX_BODY_BYTES} bytes with a Content-Length, got {length}.",
                )
                self.close_connection = True
                return
            raw = self.rfile.read(length) if length else b""
            if path not in posts:
                self._error(404, ErrorCode.NOT_FOUND, f"expected POST /reset, /step or /close, got POST {path}.")
                return
            try:
                body = json.loads(raw or b"{}")
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                self._error(400, ErrorCode.INVALID_JSON, f"expected a JSON object body, got invalid JSON: {exc}.")
                return
            if not isinstance(body, dict):
                self._error(400, ErrorCode.INVALID_JSON, f"expected a JSON object body, got a {type(body).__name__}.")
                return
            self._run(posts[path], body)

    return Handler
