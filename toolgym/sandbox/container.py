"""The ``docker`` backend: the worker is the main process of a container, reused for a sandbox's lifetime.

The container has no network (``network_mode="none"``), a read-only root filesystem, size-capped tmpfs
at ``/tmp`` and ``/dev/shm``, cgroup limits on memory, CPU and process count, every capability dropped
except the few the worker needs to switch users, and ``no-new-privileges``. The worker and the code
inside follow the same protocol as the other backends (the code runs as a dedicated unprivileged uid,
with the same rlimits). With ``host_python=True`` (default) the host's interpreter folders and shared
packages are bind-mounted read-only at the same paths and the host's interpreter runs inside (the engine
must run on this machine and the image must have a compatible C library; ``python:3.11-slim`` matches
Debian 12 hosts); with ``False`` the image's own ``python3`` runs and only the standard library is
guaranteed. The container is removed by :meth:`Sandbox.close`.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import select
import struct
import time
from typing import Any

from toolgym.sandbox.base import Sandbox, SandboxError, worker_source
from toolgym.sandbox.paths import collapse, interpreter_roots, package_roots
from toolgym.sandbox.process import worker_env

__all__ = ["DEFAULT_IMAGE", "DockerSandbox", "DockerStream"]

logger = logging.getLogger(__name__)

#: The image used unless ``image=`` says otherwise.
DEFAULT_IMAGE = "python:3.11-slim"
_FRAME = struct.Struct(">BxxxI")
_WORKER_CAPS = ["SETUID", "SETGID", "KILL", "CHOWN", "DAC_OVERRIDE", "FOWNER"]


class DockerStream:
    """Demultiplexes Docker's attach stream (8-byte frame headers: stream id, 3 zero bytes, size).

    ``feed`` takes raw bytes from the attach socket; stdout payload accumulates in :attr:`stdout` and
    stderr payload in :attr:`stderr` (the last 4,000 bytes are kept).

    Example:
        >>> s = DockerStream()
        >>> s.feed(struct.pack(">BxxxI", 1, 2) + b"hi" + struct.pack(">BxxxI", 2, 3) + b"err")
        >>> bytes(s.stdout), bytes(s.stderr)
        (b'hi', b'err')
    """

    def __init__(self) -> None:
        """Start with empty buffers."""
        self.raw = bytearray()
        self.stdout = bytearray()
        self.stderr = bytearray()

    def feed(self, data: bytes) -> None:
        """Add raw bytes and move every complete frame's payload to its stream."""
        self.raw += data
        while len(self.raw) >= _FRAME.size:
            kind, size = _FRAME.unpack_from(self.raw)
            if len(self.raw) < _FRAME.size + size:
                return
            payload = bytes(self.raw[_FRAME.size : _FRAME.size + size])
            del self.raw[: _FRAME.size + size]
            if kind == 2:
                self.stderr += payload
                del self.stderr[:-4000]
            else:
                self.stdout += payload

    def take(self, n: int) -> bytes | None:
        """Remove and return ``n`` bytes of stdout, or ``None`` when fewer are buffered."""
        if len(self.stdout) < n:
            return None
        out = bytes(self.stdout[:n])
        del self.stdout[:n]
        return out


class _DockerTransport:
    """The channel to a worker that is a container's main process (attached stdin/stdout)."""

    def __init__(self, container: Any, sock: Any) -> None:
        self.container = container
        self.sock = getattr(sock, "_sock", sock)
        self.stream = DockerStream()
        self.dead = False

    def send(self, data: bytes) -> None:
        if self.dead:
            raise OSError("the container is gone")
        self.sock.sendall(data)

    def recv_exact(self, n: int, deadline: float) -> bytes:
        while True:
            got = self.stream.take(n)
            if got is not None:
                return got
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply from the container in time")
            ready, _, _ = select.select([self.sock], [], [], left)
            if not ready:
                continue
            try:
                data = self.sock.recv(1 << 16)
            except (TimeoutError, OSError) as exc:
                self.dead = True
                raise EOFError(f"the attach socket failed: {exc}") from None
            if not data:
                self.dead = True
                raise EOFError("the container closed its output (it exited)")
            self.stream.feed(data)

    def alive(self) -> bool:
        return not self.dead

    def wait(self, timeout: float) -> bool:
        try:
            self.container.wait(timeout=timeout)
            return True
        except Exception:  # noqa: BLE001 - the SDK raises requests/urllib3 timeouts
            return False

    def kill(self) -> None:
        if self.dead and self.container is None:
            return
        self.dead = True
        try:
            self.sock.close()
        except OSError:
            pass
        container, self.container = self.container, None
        if container is not None:
            try:
                container.remove(force=True)
            except Exception as exc:  # noqa: BLE001 - already removed, or the engine went away
                logger.debug("removing the sandbox container failed: %s", exc)

    def stderr_tail(self) -> str:
        return bytes(self.stream.stderr).decode("utf-8", "replace").strip()


@functools.lru_cache(maxsize=8)
def _probe(image: str) -> tuple[bool, str]:
    try:
        import docker
    except ImportError:
        return False, "the docker Python SDK is not installed (pip install 'toolgym[docker]')"
    try:
        client = docker.from_env(timeout=5)
        client.ping()
    except Exception as exc:  # noqa: BLE001 - DockerException, connection errors, missing socket...
        return False, f"no Docker engine is reachable ({type(exc).__name__}: {str(exc)[:200]})"
    try:
        client.images.get(image)
    except Exception:  # noqa: BLE001 - ImageNotFound or an API error
        return False, f"the image {image!r} is not present locally (run `docker pull {image}`)"
    finally:
        client.close()
    return True, ""


class DockerSandbox(Sandbox):
    """A sandbox whose worker runs in a Docker container (see the module docstring).

    Args:
        image: The image (default :data:`DEFAULT_IMAGE`); it must provide a C library compatible with the
            host interpreter when ``host_python`` is set, else a ``python3``.
        host_python: Run the host's interpreter from read-only bind mounts (default) instead of the
            image's ``python3``.
        cpus: CPU share of the container (``nano_cpus``).
        memory_mb: Memory cap of the whole container (default: twice ``limits.memory_mb`` plus 256 MiB).
        pull: Pull the image when it is missing (otherwise the backend reports it unavailable).
        **kwargs: The :class:`Sandbox` arguments.
    """

    name = "docker"

    def __init__(
        self,
        *,
        image: str = DEFAULT_IMAGE,
        host_python: bool = True,
        cpus: float = 1.0,
        memory_mb: int | None = None,
        pull: bool = False,
        **kwargs: Any,
    ) -> None:
        """Configure the sandbox (see :class:`Sandbox`)."""
        super().__init__(**kwargs)
        self.image = image
        self.host_python = bool(host_python)
        self.cpus = float(cpus)
        self.memory_mb = memory_mb
        self.pull = bool(pull)

    @classmethod
    def availability(cls, image: str = DEFAULT_IMAGE) -> tuple[bool, str]:
        """Available when the SDK is installed, an engine answers and the image is present."""
        return _probe(image)

    def _drop_uid(self) -> int | None:
        if self.user is None:
            return None
        if isinstance(self.user, int):
            return self.user
        if self._uid is None:  # the worker is root inside the container
            self._uid = 2_000_000_000 + int.from_bytes(os.urandom(3), "big")
        return self._uid

    def start(self) -> DockerSandbox:
        """Start the container and its worker (see :meth:`Sandbox.start`)."""
        if self.pull:
            ok, reason = _probe(self.image)
            if not ok and "not present" in reason:
                import docker

                client = docker.from_env()
                try:
                    client.images.pull(self.image)
                finally:
                    client.close()
                _probe.cache_clear()
        ok, reason = self.availability(self.image)
        if not ok:
            raise SandboxError(f"the 'docker' sandbox backend is not available here: {reason}")
        super().start()
        return self

    def _scratch_root(self) -> str:
        return "/tmp"

    def _sweep_dirs(self) -> list[str]:
        return ["/dev/shm"]

    def _private_dirs(self) -> bool:
        return True

    def container_kwargs(self, config: dict[str, Any]) -> dict[str, Any]:
        """The arguments of ``client.containers.create`` for a worker with ``config``."""
        lim = self.limits
        if self.host_python:
            python = self.python
            binds = collapse([*interpreter_roots(self.python), *package_roots(self.share), *self.extra_paths])
        else:
            python = "python3"
            binds = list(self.extra_paths)
        volumes = {p: {"bind": p, "mode": "ro"} for p in binds}
        mem = self.memory_mb or (2 * int(lim.memory_mb or 1024) + 256)
        pids = int(lim.processes or 64) + 16
        tmpfs = {
            "/tmp": f"rw,nosuid,nodev,size={int(lim.scratch_mb)}m,mode=755",
            "/dev/shm": f"rw,nosuid,nodev,size={int(lim.shm_mb)}m,mode=1777",
        }
        return {
            "image": self.image,
            "command": [python, "-s", "-B", "-c", worker_source(), json.dumps(config)],
            "stdin_open": True,
            "tty": False,
            "detach": True,
            "network_disabled": True,
            "network_mode": "none",
            "read_only": True,
            "tmpfs": tmpfs,
            "volumes": volumes,
            "environment": worker_env(self.env, "/tmp"),
            "working_dir": "/tmp",
            "user": "0:0",
            "cap_drop": ["ALL"],
            "cap_add": list(_WORKER_CAPS),
            "security_opt": ["no-new-privileges"],
            "mem_limit": f"{mem}m",
            "memswap_limit": f"{mem}m",
            "nano_cpus": int(self.cpus * 1e9),
            "pids_limit": pids,
            "labels": {"toolgym.sandbox": "1"},
        }

    def _spawn(self, config: dict[str, Any]) -> _DockerTransport:
        import docker

        client = docker.from_env(timeout=60)
        container = client.containers.create(**self.container_kwargs(config))
        try:
            sock = container.attach_socket(params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
            container.start()
        except Exception:
            container.remove(force=True)
            raise
        return _DockerTransport(container, sock)
