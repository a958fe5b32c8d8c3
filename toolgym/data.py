"""Finding dataset files: ``TOOLGYM_DATA_DIR``, checksums, downloads, and errors that say what to do.

Loaders describe each file they need as a :class:`DataFile` and call :func:`fetch`, which returns the
local path: the file under :func:`data_dir` (``$TOOLGYM_DATA_DIR``, default ``~/.cache/toolgym``), after
checking its SHA-256 when one is declared. A missing file is downloaded from its official source when the
network allows (never when ``TOOLGYM_OFFLINE=1``), written atomically; otherwise
:class:`~toolgym.error.DataNotFoundError` names the file, where to put it and where to get it.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from toolgym.error import DataNotFoundError

__all__ = ["DATA_DIR_ENV", "OFFLINE_ENV", "DataFile", "data_dir", "fetch", "is_available", "sha256_of"]

logger = logging.getLogger(__name__)

DATA_DIR_ENV = "TOOLGYM_DATA_DIR"
OFFLINE_ENV = "TOOLGYM_OFFLINE"
_DOWNLOAD_TIMEOUT_S = 30.0


def data_dir() -> Path:
    """The data folder: ``$TOOLGYM_DATA_DIR`` if set, else ``~/.cache/toolgym``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "toolgym"


@dataclass(frozen=True)
class DataFile:
    """A file a loader needs.

    Attributes:
        relpath: Path under the data folder, e.g. ``"hotpotqa/dev_distractor_subset.jsonl.gz"``.
        description: What it is, for messages (``"HotpotQA dev questions with distractor paragraphs"``).
        url: The official download address, or ``None`` when the file must be provided by hand.
        sha256: The expected checksum, or ``None`` to skip the check.
        instructions: How to obtain it when it cannot be downloaded (shown in the error).
    """

    relpath: str
    description: str
    url: str | None = None
    sha256: str | None = None
    instructions: str = ""

    @property
    def path(self) -> Path:
        """The local path under the current data folder."""
        return data_dir() / self.relpath


@functools.lru_cache(maxsize=256)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_of(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file (cached per path, size and modification time)."""
    st = os.stat(path)
    return _sha256_cached(os.fspath(path), st.st_size, st.st_mtime_ns)


def is_available(*files: DataFile) -> bool:
    """Whether every file exists locally (no checksum, no download)."""
    return all(f.path.is_file() for f in files)


def _download(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as resp:  # noqa: S310
            shutil.copyfileobj(resp, out)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fetch(file: DataFile, *, download: bool | None = None, verify: bool = True) -> Path:
    """Return the local path of ``file``, downloading it if missing and allowed.

    Args:
        file: The file to find.
        download: ``True`` to try downloading a missing file, ``False`` never; ``None`` (default) tries
            unless ``TOOLGYM_OFFLINE=1``.
        verify: Check the SHA-256 when the file declares one.

    Returns:
        The path of the file.

    Raises:
        DataNotFoundError: The file is missing and could not be downloaded, or its checksum is wrong.
    """
    path = file.path
    if not path.is_file():
        allowed = os.environ.get(OFFLINE_ENV, "") not in ("1", "true", "yes") if download is None else download
        reason = "downloads are disabled (TOOLGYM_OFFLINE=1)" if not allowed else "it has no download address"
        if allowed and file.url:
            try:
                logger.info("downloading %s from %s", file.relpath, file.url)
                _download(file.url, path)
            except (OSError, ValueError) as exc:
                reason = f"downloading {file.url} failed ({exc})"
        if not path.is_file():
            where = f" Get it from {file.url}." if file.url else ""
            raise DataNotFoundError(
                f"{file.description}: expected the file {path}, which is missing, and {reason}.{where} "
                f"{file.instructions} Put it at {DATA_DIR_ENV}/{file.relpath} "
                f"(now {DATA_DIR_ENV}={data_dir()}), or set {DATA_DIR_ENV} to a folder that has it."
            )
    if verify and file.sha256:
        got = sha256_of(path)
        if got != file.sha256:
            raise DataNotFoundError(
                f"{file.description}: expected SHA-256 {file.sha256} for {path}, got {got}. The file is "
                f"corrupt or a different version; delete it and fetch it again"
                + (f" from {file.url}." if file.url else ".")
            )
    return path
