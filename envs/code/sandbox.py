"""Backward-compatible name: the sandbox now lives in :mod:`toolgym.sandbox` (shared by code and VQA)."""

from toolgym.sandbox import *  # noqa: F403
from toolgym.sandbox import __all__  # noqa: F401
