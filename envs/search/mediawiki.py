"""A small MediaWiki API server over an offline corpus, on the loopback interface only.

It speaks the subset of ``api.php`` that ``wikipedia-api`` (and so
:class:`~toolgym.envs.search.wikipedia.WikipediaBackend`) uses: ``action=query`` with ``prop=extracts`` or
``prop=info`` for a title, and ``list=search``. Point the Wikipedia backend at it with ``api_url=server.url``
to run the live code path (HTTP, retries, timeouts, the response cache) without the internet, e.g. in tests
or on an air-gapped cluster that mirrors a corpus.

Faults can be injected: :meth:`MediaWikiServer.fail_next` answers the next requests with an HTTP error and
``delay_s`` slows every answer down (to exercise retries and timeouts).

Example:
    >>> from toolgym.envs.search.backends import OfflineBackend
    >>> from toolgym.envs.search.corpus import Corpus
    >>> from toolgym.envs.search.wikipedia import WikipediaBackend
    >>> corpus = Corpus.from_pages([("Ed Wood", "Ed Wood was an American filmmaker.")])
    >>> with MediaWikiServer(OfflineBackend.from_corpus(corpus, cache=False)) as server:
    ...     wiki = WikipediaBackend(api_url=server.url, cache=False)
    ...     wiki.page("Ed Wood").text
    'Ed Wood was an American filmmaker.'
"""

from __future__ import annotations

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from toolgym.envs.search.backends import OfflineBackend

__all__ = ["MediaWikiServer"]


class MediaWikiServer:
    """Serve an :class:`~toolgym.envs.search.backends.OfflineBackend` as a MediaWiki API on 127.0.0.1.

    Use it as a context manager (or call :meth:`start` and :meth:`stop`).

    Attributes:
        url: The ``api.php`` address, e.g. ``http://127.0.0.1:38211/w/api.php`` (set once started).
        requests: The query parameters of every request received, in order.
        delay_s: Seconds to wait before each answer.
    """

    def __init__(self, backend: OfflineBackend, *, port: int = 0, delay_s: float = 0.0) -> None:
        """Prepare a server for ``backend`` on ``port`` (0 picks a free port)."""
        self.backend = backend
        self.port = port
        self.delay_s = float(delay_s)
        self.requests: list[dict[str, str]] = []
        self.url = ""
        self._fail: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def fail_next(self, n: int, status: int = 503) -> None:
        """Answer the next ``n`` requests with HTTP ``status``."""
        with self._lock:
            self._fail.extend([status] * n)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> MediaWikiServer:
        """Start serving in a background thread."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (the http.server API)
                outer._handle(self)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/w/api.php"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="mediawiki-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MediaWikiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ requests
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        params = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(params)
            status = self._fail.pop(0) if self._fail else 200
        if self.delay_s and self._stop.wait(self.delay_s):
            return
        if status != 200:
            body = json.dumps({"error": {"code": "http", "info": f"injected HTTP {status}"}}).encode()
        else:
            status, payload = self.answer(params)
            body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json; charset=utf-8")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:  # the client gave up (a timeout test)
            pass

    def answer(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """The ``(status, JSON)`` answer to one ``api.php`` request."""
        if params.get("action") != "query":
            return 200, {"error": {"code": "badvalue", "info": f"Unrecognized action {params.get('action')!r}."}}
        if params.get("list") == "search":
            return 200, self._search(params)
        prop = params.get("prop", "")
        if prop in ("extracts", "info") and "titles" in params:
            return 200, self._prop(prop, params["titles"].split("|")[0])
        return 200, {"error": {"code": "badvalue", "info": "Only prop=extracts|info and list=search are served."}}

    def _prop(self, prop: str, title: str) -> dict[str, Any]:
        corpus = self.backend.corpus
        i = corpus.find(title)
        query: dict[str, Any] = {}
        if i is None:
            query["pages"] = {"-1": {"ns": 0, "title": title, "missing": ""}}
            return {"batchcomplete": "", "query": query}
        real = corpus.titles[i]
        if real != title:
            query["normalized"] = [{"from": title, "to": real}]
        entry: dict[str, Any] = {"pageid": i + 1, "ns": 0, "title": real}
        if prop == "extracts":
            entry["extract"] = corpus.texts[i]
        else:
            entry.update({"contentmodel": "wikitext", "pagelanguage": "en", "length": len(corpus.texts[i])})
        query["pages"] = {str(i + 1): entry}
        return {"batchcomplete": "", "query": query}

    def _search(self, params: dict[str, str]) -> dict[str, Any]:
        query = params.get("srsearch", "")
        try:
            limit = max(1, min(int(params.get("srlimit", "10")), 500))
        except ValueError:
            limit = 10
        hits = self.backend.search(query, limit)
        rows = []
        for h in hits:
            i = self.backend.corpus.find(h.page.title)
            text = h.page.text
            rows.append(
                {
                    "ns": 0,
                    "title": h.page.title,
                    "pageid": (i or 0) + 1,
                    "size": len(text.encode("utf-8")),
                    "wordcount": len(text.split()),
                    "snippet": html.escape(text[:150], quote=False),
                    "timestamp": "2024-01-01T00:00:00Z",
                }
            )
        return {"batchcomplete": "", "query": {"searchinfo": {"totalhits": len(rows)}, "search": rows}}
