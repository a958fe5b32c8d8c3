"""The official engine's worker process: ``python -m toolgym.envs.household._worker <read fd> <write fd> <0|1>``.

Started by :class:`toolgym.envs.household.official.OfficialEngine` as a fresh interpreter (not a fork: the
parent may hold threads, and ``spawn`` would re-run the parent's main script). It answers requests on a pipe.
"""

from __future__ import annotations

import sys
from multiprocessing.connection import Connection
from typing import Any


class _Duplex:
    def __init__(self, read: Connection, write: Connection) -> None:
        self.read, self.write = read, write

    def recv(self) -> Any:
        return self.read.recv()

    def send(self, obj: Any) -> None:
        self.write.send(obj)


def _accelerate() -> None:  # pragma: no cover - runs in the worker
    """Memoise the official engine's pure, slow functions (see the module docstring)."""
    import copy

    import fast_downward
    from textworld.envs.pddl import logic as pddl_logic
    from textworld.envs.pddl import textgen
    from textworld.logic import Rule

    translate_original = fast_downward.pddl2sas
    translations: dict[tuple[str, str, bool], Any] = {}

    def translate(domain: str, problem: str, verbose: bool = False, optimize: bool = False) -> Any:
        key = (domain, problem, bool(optimize))
        if key not in translations:
            if len(translations) >= 32:
                translations.clear()
            translations[key] = translate_original(domain, problem, verbose=verbose, optimize=optimize)
        return translations[key]

    parse_original = textgen._parse_and_convert
    parsed: dict[Any, Any] = {}

    def parse(*args: Any, **kwargs: Any) -> Any:
        key = (args, tuple(sorted(kwargs.items())))
        if key not in parsed:
            parsed[key] = parse_original(*args, **kwargs)
        return copy.deepcopy(parsed[key])  # derive() mutates the symbols it gets

    query_original = Rule.parse_conjunctive_query.__func__
    queries: dict[str, Any] = {}

    def parse_query(cls: type, expr: str) -> Any:
        if expr not in queries:
            queries[expr] = query_original(cls, expr)
        return queries[expr]

    pddl_logic.fast_downward.pddl2sas = translate
    textgen._parse_and_convert = parse
    Rule.parse_conjunctive_query = classmethod(parse_query)


def _serve(conn: Any, accelerate: bool) -> None:  # pragma: no cover - runs in the worker
    """The worker's loop."""
    import textworld
    from alfworld.agents.environment.alfred_tw_env import AlfredDemangler
    from textworld.envs.pddl import PddlEnv

    if accelerate:
        _accelerate()

    infos = textworld.EnvInfos(won=True, admissible_commands=True)
    env: Any = None
    loaded: str | None = None

    def state_reply(gs: Any) -> tuple[Any, ...]:
        return ("ok", str(gs.feedback), tuple(gs["admissible_commands"]), bool(gs["won"]))

    while True:
        try:
            msg = conn.recv()
        except EOFError:
            return
        op = msg[0]
        try:
            if op == "close":
                conn.send(("ok",))
                return
            if op == "load":
                key, data = msg[1], msg[2]
                if key != loaded or env is None:
                    env = AlfredDemangler(PddlEnv(infos))
                    env.load(dict(data))
                    loaded = key
                conn.send(("ok",))
            elif op == "reset":
                conn.send(state_reply(env.reset()))
            elif op == "step":
                gs, _, _ = env.step(msg[1])
                conn.send(state_reply(gs))
            elif op == "replay":
                gs = env.reset()
                for cmd in msg[1]:
                    gs, _, _ = env.step(cmd)
                conn.send(state_reply(gs))
            else:
                conn.send(("error", f"unknown request {op!r}"))
        except Exception as exc:  # noqa: BLE001 - report any engine failure to the parent
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - runs in the worker
    """Serve requests on the two pipe ends given on the command line."""
    args = sys.argv[1:] if argv is None else argv
    read, write = Connection(int(args[0]), writable=False), Connection(int(args[1]), readable=False)
    _serve(_Duplex(read, write), args[2] == "1")


if __name__ == "__main__":  # pragma: no cover
    main()
