"""The lifecycle shared by toolgym's HTTP servers (the env server and the OpenAI-compatible LLM server).

:class:`BackgroundHTTPServer` binds a threaded HTTP server to ``host:port`` (port 0: any free port, read back
into ``port``), serves it in a background thread (:meth:`~BackgroundHTTPServer.start`, a context manager) or in
the calling thread (:meth:`~BackgroundHTTPServer.serve_forever`), and releases the port on
:meth:`~BackgroundHTTPServer.stop`. A server says what handles its requests (:meth:`_handler`) and may set up
and tear down its own resources around that (:meth:`_on_start`, :meth:`_on_stop`).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

__all__ = ["BackgroundHTTPServer"]

logger = logging.getLogger(__name__)

_S = TypeVar("_S", bound="BackgroundHTTPServer")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # many clients connect at once (the default backlog of 5 drops connections)


class BackgroundHTTPServer(ABC):
    """Start, serve and stop a threaded HTTP server; subclasses set ``host`` and ``port`` before starting."""

    host: str
    port: int
    #: Names the background thread.
    thread_name = "toolgym-http"
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @abstractmethod
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class, bound to this server."""

    def _describe(self) -> str:
        """What is served (for the log line on start)."""
        return type(self).__name__

    def _on_start(self) -> None:  # noqa: B027 (an optional hook: nothing to set up by default)
        """Set up what requests need, before the port is bound."""

    def _on_stop(self) -> None:  # noqa: B027 (an optional hook: nothing to release by default)
        """Release what :meth:`_on_start` set up, after the port is released."""

    def _bind(self) -> ThreadingHTTPServer:
        self._on_start()
        self._httpd = _HTTPServer((self.host, self.port), self._handler())
        self.port = int(self._httpd.server_address[1])
        logger.info("serving %s at http://%s:%s", self._describe(), self.host, self.port)
        return self._httpd

    def start(self: _S) -> _S:
        """Bind and serve in a background thread; returns ``self``."""
        httpd = self._bind()
        self._thread = threading.Thread(target=httpd.serve_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Bind and serve in this thread until interrupted."""
        httpd = self._bind()
        try:
            httpd.serve_forever()
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving and release the port (and what :meth:`_on_start` set up)."""
        if self._httpd is not None:
            if self._thread is not None:
                self._httpd.shutdown()
                self._thread.join(timeout=5)
                self._thread = None
            self._httpd.server_close()
            self._httpd = None
        self._on_stop()

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
