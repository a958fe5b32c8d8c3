"""Live Wikipedia as a search backend, through ``wikipedia-api`` (the ``wiki`` extra).

* **Pages**: ``prop=extracts`` (plain text), redirects followed; the page text is the introduction and every
  section's text, one paragraph a line, without headings (as ReAct's HTML scraping gave).
* **Search**: ``list=search`` (Wikipedia's own ranking); the hits carry the result snippets.
* **Timeouts and retries**: every request has a timeout; transient failures (timeouts, connection errors,
  HTTP 429 and 5xx) are retried with exponential backoff (``retry_wait * 2**attempt``, or ``Retry-After``),
  by wikipedia-api's own retry loop.
* **Persistent response cache**: successful API responses are stored in an SQLite file keyed by the request
  URL (default ``$TOOLGYM_CACHE_DIR/wikipedia/responses.sqlite``), so a second run asks the network nothing.
* **Endpoint**: ``api_url`` (or ``$TOOLGYM_WIKIPEDIA_API_URL``) points the client at another MediaWiki API,
  e.g. a mirror or the loopback server of :mod:`toolgym.envs.search.mediawiki` used by the tests.

For runs that must be repeatable offline, wrap the backend with
:class:`~toolgym.envs.search.backends.RecordingBackend` and replay the file with
:class:`~toolgym.envs.search.backends.ReplayBackend` (the env's ``record_to=`` / ``replay_from=``).

No network call happens at construction: the HTTP client is created on first use.
"""

from __future__ import annotations

import html
import logging
import os
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from toolgym.envs.search.backends import BackendError, SearchHit
from toolgym.envs.search.corpus import Page
from toolgym.envs.search.index import cache_dir
from toolgym.error import ConfigError, require

__all__ = ["API_URL_ENV", "ResponseCache", "WikipediaBackend"]

logger = logging.getLogger(__name__)

API_URL_ENV = "TOOLGYM_WIKIPEDIA_API_URL"
_USER_AGENT = "toolgym/0.1 (search environments for tool-using agents; https://github.com/toolgym)"
_TAG = re.compile(r"<[^>]+>")


class ResponseCache:
    """A persistent ``URL -> response body`` store in one SQLite file (safe across processes).

    Example:
        >>> import tempfile, pathlib
        >>> c = ResponseCache(pathlib.Path(tempfile.mkdtemp()) / "r.sqlite")
        >>> c.put("https://x/api?a=1", b'{"ok": 1}'); c.get("https://x/api?a=1")
        b'{"ok": 1}'
    """

    def __init__(self, path: str | Path) -> None:
        """Open (or create) the cache file at ``path``."""
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS responses (url TEXT PRIMARY KEY, body BLOB, fetched REAL)")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30.0)
        db.execute("PRAGMA journal_mode=WAL")
        return db

    def get(self, url: str) -> bytes | None:
        """The stored body for ``url``, or ``None``."""
        db = self._connect()
        try:
            row = db.execute("SELECT body FROM responses WHERE url = ?", (url,)).fetchone()
        finally:
            db.close()
        return None if row is None else bytes(row[0])

    def put(self, url: str, body: bytes) -> None:
        """Store ``body`` for ``url`` (replacing an older one)."""
        db = self._connect()
        try:
            with db:
                db.execute(
                    "INSERT OR REPLACE INTO responses (url, body, fetched) VALUES (?, ?, ?)", (url, body, time.time())
                )
        finally:
            db.close()

    def __len__(self) -> int:
        db = self._connect()
        try:
            return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
        finally:
            db.close()


def _transports() -> tuple[type, type]:
    """The two httpx transports (defined on first use so that httpx is imported only when needed)."""
    import httpx

    class EndpointTransport(httpx.BaseTransport):
        """Sends every request to ``api_url`` instead of ``https://<lang>.wikipedia.org/w/api.php``."""

        def __init__(self, api_url: str, inner: httpx.BaseTransport) -> None:
            self.api_url = httpx.URL(api_url)
            self.inner = inner

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            url = self.api_url.copy_with(query=request.url.query)
            headers = [(k, v) for k, v in request.headers.items() if k.lower() != "host"]
            forwarded = httpx.Request(request.method, url, headers=headers, extensions=request.extensions)
            return self.inner.handle_request(forwarded)

        def close(self) -> None:
            self.inner.close()

    class CachingTransport(httpx.BaseTransport):
        """Answers GET requests from a :class:`ResponseCache` and stores successful responses in it."""

        def __init__(self, cache: ResponseCache, inner: httpx.BaseTransport) -> None:
            self.cache = cache
            self.inner = inner

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            key = str(request.url)
            if request.method == "GET":
                body = self.cache.get(key)
                if body is not None:
                    return httpx.Response(
                        200, content=body, headers={"content-type": "application/json"}, request=request
                    )
            response = self.inner.handle_request(request)
            if request.method == "GET" and response.status_code == 200:
                body = response.read()
                self.cache.put(key, body)
                return httpx.Response(200, content=body, headers={"content-type": "application/json"}, request=request)
            return response

        def close(self) -> None:
            self.inner.close()

    return EndpointTransport, CachingTransport


def _strip_html(snippet: str) -> str:
    return " ".join(html.unescape(_TAG.sub("", snippet)).split())


class WikipediaBackend:
    """Live Wikipedia through ``wikipedia-api``, with timeouts, retries, and a persistent response cache.

    Args:
        language: The Wikipedia language code.
        user_agent: Sent with every request (Wikimedia asks clients to identify themselves).
        timeout: Seconds before a request is abandoned (then retried).
        max_retries: Retries of a failed request (timeouts, connection errors, HTTP 429/5xx).
        retry_wait: Base wait between retries in seconds; doubled after each attempt.
        cache: Where to keep responses: a path to an SQLite file, ``None`` for the default
            (``$TOOLGYM_CACHE_DIR/wikipedia/responses.sqlite``), or ``False`` for no cache.
        api_url: Another MediaWiki API endpoint (default ``$TOOLGYM_WIKIPEDIA_API_URL``, else Wikipedia's).

    Network and API failures raise :class:`~toolgym.envs.search.backends.BackendError`, which the env shows
    as the observation.
    """

    name = "wikipedia"

    def __init__(
        self,
        *,
        language: str = "en",
        user_agent: str = _USER_AGENT,
        timeout: float = 10.0,
        max_retries: int = 3,
        retry_wait: float = 1.0,
        cache: str | Path | bool | None = None,
        api_url: str | None = None,
    ) -> None:
        """Configure the backend; nothing is fetched until the first call."""
        if not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigError(f"WikipediaBackend: expected a positive timeout in seconds, got {timeout!r}.")
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ConfigError(f"WikipediaBackend: expected max_retries >= 0, got {max_retries!r}.")
        if not isinstance(retry_wait, (int, float)) or retry_wait < 0:
            raise ConfigError(f"WikipediaBackend: expected retry_wait >= 0 seconds, got {retry_wait!r}.")
        self.language = language
        self.user_agent = user_agent
        self.timeout = float(timeout)
        self.max_retries = max_retries
        self.retry_wait = float(retry_wait)
        self.api_url = api_url or os.environ.get(API_URL_ENV) or None
        if cache is True or cache is None:
            self.cache_path: Path | None = cache_dir() / "wikipedia" / "responses.sqlite"
        elif cache is False:
            self.cache_path = None
        else:
            self.cache_path = Path(cache)
        self._wiki: Any = None
        self._seen: dict[str, Page] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_wiki"] = None  # the HTTP client is rebuilt on first use
        return state

    def _client(self) -> Any:
        if self._wiki is None:
            wikipediaapi = require("wikipediaapi", "wiki", "The wikipedia search backend")
            import httpx

            endpoint_cls, caching_cls = _transports()
            transport: httpx.BaseTransport = httpx.HTTPTransport()
            if self.api_url:
                transport = endpoint_cls(self.api_url, transport)
            if self.cache_path is not None:
                transport = caching_cls(ResponseCache(self.cache_path), transport)
            self._wiki = wikipediaapi.Wikipedia(
                user_agent=self.user_agent,
                language=self.language,
                timeout=self.timeout,
                max_retries=self.max_retries,
                retry_wait=self.retry_wait,
                transport=transport,
            )
        return self._wiki

    def _guard(self, what: str, fn: Any) -> Any:
        wikipediaapi = require("wikipediaapi", "wiki", "The wikipedia search backend")
        try:
            return fn()
        except wikipediaapi.WikipediaException as exc:
            raise BackendError(f"Wikipedia {what} failed: {type(exc).__name__}: {exc}") from exc
        except (OSError, ValueError) as exc:
            raise BackendError(f"Wikipedia {what} failed: {type(exc).__name__}: {exc}") from exc

    def page(self, title: str) -> Page | None:
        """The page titled ``title`` (redirects followed), or ``None`` when Wikipedia has none."""
        if not title.strip():
            return None

        def fetch() -> Page | None:
            p = self._client().page(title)
            paragraphs = [p.summary]
            stack = list(reversed(p.sections))
            while stack:
                sec = stack.pop()
                paragraphs.append(sec.text)
                stack.extend(reversed(sec.sections))
            if not p.exists():
                return None
            text = "\n".join(x.strip() for x in paragraphs if x and x.strip())
            return Page(p.title, text, disambiguation="may refer to:" in text)

        page = self._guard(f"page {title!r}", fetch)
        if page is not None:
            self._seen[page.title] = page
        return page

    def search(self, query: str, k: int = 5) -> list[SearchHit]:
        """Wikipedia's ``list=search`` results; each hit's page text is the result snippet."""
        if not query.strip() or k <= 0:
            return []

        def fetch() -> list[SearchHit]:
            results = self._client().search(query, limit=k)
            hits = []
            for rank, (title, p) in enumerate(results.pages.items()):
                meta = getattr(p, "_search_meta", None)
                snippet = _strip_html(getattr(meta, "snippet", "") or "")
                hits.append(SearchHit(Page(title, snippet), float(k - rank)))
            return hits[:k]

        return self._guard(f"search {query!r}", fetch)

    def random_page(self, u: float) -> Page | None:
        """A page fetched earlier by this backend (in title order), chosen by ``u``; ``None`` before any."""
        if not self._seen:
            return None
        titles = sorted(self._seen)
        return self._seen[titles[min(int(u * len(titles)), len(titles) - 1)]]
