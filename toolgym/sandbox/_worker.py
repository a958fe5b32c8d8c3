"""The sandbox worker: the process that runs *inside* every sandbox backend.

This file is not imported by the host: its source is passed to the sandbox's interpreter as
``python -c <source> <config-json>``, so it uses the standard library only and runs on Python >= 3.8.

Process structure inside a sandbox::

    worker W (trusted; child subreaper; not dumpable; never runs submitted code)
     |- one-shot child C         forked per ``run``: drops privileges, applies rlimits, runs the code, exits
     `- session holder H         forked per session: drops privileges, holds the session's globals
         `- execution child C    forked per ``run`` in the session: runs the code on a copy of the state;
             `- new holder H'    when the code completed (with or without an exception), C forks H' which
                                 takes over the session and H exits; when C crashed or was killed, H stays
                                 and the session keeps its state from before the execution.

The worker talks to the host over its stdin/stdout with length-prefixed JSON messages (one request, one
reply). Each execution's stdout, stderr and result travel over fresh pipes that the worker reads with size
caps and a wall-clock deadline; on timeout the worker kills the child's process group and then every
process below it that is not a session holder (orphans are re-parented to the worker because it is a
child subreaper), so no execution leaves a process behind.

Parts, one job each: :class:`Worker` (the request loop and the host's operations), :class:`Child` (what a
forked child does: privilege drop, limits via :func:`apply_rlimits`, plumbing, execution),
:class:`SessionHolder` (a session's process), :class:`SpareFactory` (children forked ahead of one-shot runs,
by the factory process) and :class:`Janitor` (killing leftover processes, removing leftover files, scratch
folders). They live in one file because the file is the program.
"""

import ast
import builtins
import json
import linecache
import os
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import time
import traceback

_HDR = struct.Struct(">I")
_MAX_EVENT_BYTES = 1 << 16
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38
_GRACE_S = 0.1
_KILL_WAIT_S = 2.0
_EXIT_CHILD_FAILED = 70


_LIBC = []  # the C library handle, opened once in the worker and inherited by every fork


def _libc():
    if not _LIBC:
        import ctypes

        _LIBC.append(ctypes.CDLL(None, use_errno=True))
    return _LIBC[0]


def _prctl(option, arg):
    try:
        return _libc().prctl(option, arg, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _read_exact(fd, n):
    chunks = []
    while n > 0:
        try:
            b = os.read(fd, min(n, 1 << 20))
        except InterruptedError:
            continue
        if not b:
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except InterruptedError:
            continue
        view = view[n:]


def _frame(obj):
    body = json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return _HDR.pack(len(body)) + body


def _clean_text(s):
    """A str that encodes to UTF-8 (lone surrogates from user strings are escaped)."""
    return s.encode("utf-8", "backslashreplace").decode("utf-8")


def _close_fds_except(keep):
    keep = sorted({fd for fd in keep if fd is not None and fd >= 0} | {0, 1, 2})
    lo = 0
    for fd in keep:
        if fd > lo:
            os.closerange(lo, fd)
        lo = fd + 1
    os.closerange(lo, 1 << 16)


def _thread_count():
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        import threading

        return threading.active_count()


def _children(pid, single_threaded=False):
    """Direct children of ``pid`` (every thread), from /proc; [] when the process is gone."""
    out = []
    if single_threaded:
        tids = [str(pid)]
    else:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(x) for x in fh.read().split())
        except (OSError, ValueError):
            pass
    return out


def _children_by_scan(pid, single_threaded=False):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as fh:
                stat = fh.read()
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == pid:
            out.append(int(name))
    return out


def _reaped():
    """Reap the children that have exited, without waiting: yield ``(pid, status)`` for each."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, status


def _fork_connected(body, keep, exit_code):
    """Fork a child that runs ``body(sock)`` with no descriptor open but ``sock`` (and ``keep``), then exits.

    Returns the child's pid and the worker's end of the socket pair.
    """
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:
        try:
            mine.close()
            _close_fds_except([theirs.fileno(), *keep])
            body(theirs)
        finally:
            os._exit(exit_code)
    theirs.close()
    return pid, mine


def _recv_request(sock, maxfds=3):
    """Receive one framed request and the file descriptors sent with it; (None, []) at end of stream."""
    try:
        head, fds, _flags, _addr = socket.recv_fds(sock, _HDR.size, maxfds)
        while head and len(head) < _HDR.size:
            more = sock.recv(_HDR.size - len(head))
            if not more:
                break
            head += more
        if len(head) < _HDR.size:
            raise OSError("end of stream")
        n = _HDR.unpack(head)[0]
        body = bytearray()
        while len(body) < n:
            more = sock.recv(min(n - len(body), 1 << 20))
            if not more:
                raise OSError("end of stream")
            body += more
        return json.loads(bytes(body).decode("utf-8")), list(fds)
    except (OSError, ValueError, AttributeError):
        return None, []


def _expose(groups, staging_root):
    """Make folders under private parents (e.g. an interpreter under /root, mode 0700) reachable.

    In a private mount namespace of the worker (so the host is unaffected), each private parent is
    covered by a small tmpfs (mode 0755) into which only the listed folders are bound back: the code then
    reaches the interpreter but nothing else of that parent. ``groups`` maps a parent to its folders.
    Needs root; returns the list of parents handled.
    """
    import ctypes

    libc = _libc()
    clone_newns, ms_bind, ms_rec, ms_private, mnt_detach = 0x00020000, 4096, 16384, 1 << 18, 2

    def check(rc, what):
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    check(libc.unshare(clone_newns), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"none", b"/", None, ms_rec | ms_private, None), "making / private")
    done = []
    for parent, roots in sorted(groups.items()):
        staged = []
        for i, root in enumerate(roots):
            tmp = os.path.join(staging_root, f".expose-{i}")
            os.makedirs(tmp, exist_ok=True)
            check(libc.mount(root.encode(), tmp.encode(), None, ms_bind | ms_rec, None), "binding " + root)
            staged.append((tmp, root))
        check(libc.mount(b"tmpfs", parent.encode(), b"tmpfs", 0, b"mode=0755,size=1m"), "tmpfs on " + parent)
        for tmp, root in staged:
            os.makedirs(root, exist_ok=True)
            check(libc.mount(tmp.encode(), root.encode(), None, ms_bind | ms_rec, None), "re-binding " + root)
            libc.umount2(tmp.encode(), mnt_detach)
            os.rmdir(tmp)
        done.append(parent)
    return done


class Channel:
    """Length-prefixed JSON messages over two file descriptors."""

    def __init__(self, rfd, wfd):
        self.rfd, self.wfd = rfd, wfd

    def recv(self):
        head = _read_exact(self.rfd, _HDR.size)
        if head is None:
            return None
        body = _read_exact(self.rfd, _HDR.unpack(head)[0])
        return None if body is None else json.loads(body.decode("utf-8"))

    def send(self, obj):
        _write_all(self.wfd, _frame(obj))


def _send_event(sock, obj):
    try:
        sock.sendall(_frame(obj))
        return True
    except OSError:
        return False


class _EventReader:
    """Reads length-prefixed events from a session socket without blocking past a deadline."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def feed(self):
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.eof = True
        self.buf += data

    def pop(self):
        if len(self.buf) < _HDR.size:
            return None
        n = _HDR.unpack(self.buf[: _HDR.size])[0]
        if n > _MAX_EVENT_BYTES:
            self.eof = True  # a garbled or hostile stream: treat the session as lost
            self.buf = b""
            return None
        if len(self.buf) < _HDR.size + n:
            return None
        body, self.buf = self.buf[_HDR.size : _HDR.size + n], self.buf[_HDR.size + n :]
        try:
            return json.loads(body.decode("utf-8"))
        except ValueError:
            self.eof = True
            return None


def _safe_repr(value, limit):
    try:
        text = repr(value)
    except BaseException as exc:  # a hostile __repr__
        text = f"<repr() failed: {type(exc).__name__}>"
    if len(text) > limit:
        text = text[:limit] + f"... [{len(text) - limit} more characters]"
    return _clean_text(text)


def _safe_str(exc):
    try:
        return _clean_text(str(exc))
    except BaseException:
        return "<str() failed>"


def _format_exception(exc, limit):
    try:
        tb = exc.__traceback__
        here = _format_exception.__code__.co_filename
        while tb is not None and tb.tb_frame.f_code.co_filename == here:
            tb = tb.tb_next
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except BaseException:
        text = f"{type(exc).__name__}: {_safe_str(exc)}\n"
    if len(text) > limit:
        lines = text.splitlines(True)
        head = lines[0] if lines and lines[0].startswith("Traceback") else ""
        tail = text[-(limit - len(head) - 60) :]
        text = head + f"  ... [traceback cut: {len(text) - len(head) - len(tail)} characters]\n" + tail
    return _clean_text(text)


def _exception_name(exc):
    t = type(exc)
    mod = getattr(t, "__module__", "builtins")
    return t.__qualname__ if mod in ("builtins", "__main__", None) else f"{mod}.{t.__qualname__}"


def _execute(code, ns, filename, limits):
    """Run ``code`` in ``ns``; return the result fields (never raises)."""
    res = {"exception": None, "message": "", "traceback": "", "value": None, "errno": None, "exit_code": None}
    t0 = time.perf_counter()
    try:
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        tree = compile(code, filename, "exec", ast.PyCF_ONLY_AST)
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, filename, "exec"), ns)
        if last is not None:
            value = eval(compile(ast.Expression(last.value), filename, "eval"), ns)
            if value is not None:
                ns["_"] = value
                res["value"] = _safe_repr(value, limits["max_value_chars"])
    except BaseException as exc:
        try:
            res["exception"] = _exception_name(exc)
            res["message"] = _safe_str(exc)[: limits["max_value_chars"]]
            if isinstance(exc, OSError):
                res["errno"] = exc.errno
            if isinstance(exc, SystemExit):
                code_ = exc.code
                res["exit_code"] = 0 if code_ is None else (code_ if isinstance(code_, int) else 1)
            res["traceback"] = _format_exception(exc, limits["max_traceback_chars"])
        except BaseException:
            res["exception"] = res["exception"] or "BaseException"
            res["traceback"] = "{} (the traceback could not be formatted)\n".format(res["exception"])
    res["exec_s"] = time.perf_counter() - t0
    try:
        ru = resource.getrusage(resource.RUSAGE_SELF)
        res["cpu_s"] = ru.ru_utime + ru.ru_stime
    except OSError:
        res["cpu_s"] = 0.0
    return res


# ---------------------------------------------------------------------------------------------- limits
def apply_rlimits(lim, is_root, nproc_base=0):
    """Set this process's resource limits from ``lim`` (the sandbox's limits; soft = hard unless given a pair).

    Without root a limit is never raised above the hard limit already in force.
    """

    def setlim(res, value):
        if value is None:
            return
        soft, hard = (value, value) if not isinstance(value, tuple) else value
        if not is_root:
            _, cur = resource.getrlimit(res)
            if cur != resource.RLIM_INFINITY:
                hard = min(hard, cur)
                soft = min(soft, hard)
        resource.setrlimit(res, (soft, hard))

    mb = 1 << 20
    cpu = lim.get("cpu_s")
    if cpu:
        setlim(resource.RLIMIT_CPU, (int(cpu + 0.999), int(cpu + 0.999) + 1))
    if lim.get("memory_mb"):
        setlim(resource.RLIMIT_AS, int(lim["memory_mb"] * mb))
    if lim.get("processes"):
        setlim(resource.RLIMIT_NPROC, int(lim["processes"]) + int(nproc_base))
    if lim.get("file_size_mb") is not None:
        setlim(resource.RLIMIT_FSIZE, int(lim["file_size_mb"] * mb))
    if lim.get("open_files"):
        setlim(resource.RLIMIT_NOFILE, int(lim["open_files"]))
    if lim.get("stack_mb"):
        setlim(resource.RLIMIT_STACK, int(lim["stack_mb"] * mb))
    setlim(resource.RLIMIT_CORE, 0)


def cap_cpu_to_timeout(lim, timeout):
    """Lower the CPU-time limit to the run's wall-clock timeout (never above the hard limit)."""
    cpu = lim.get("cpu_s")
    if cpu:
        soft = int(min(cpu, timeout) + 0.999)
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


# ---------------------------------------------------------------------------------------------- janitor
class Janitor:
    """Cleans up after executions: kills the processes left below the worker, removes the files left behind.

    It also makes the scratch folders (owned by the sandbox user) and removes them.
    """

    def __init__(self, cfg, uid, gid):
        self.cfg = cfg
        self.uid = uid
        self.gid = gid
        self.scratch_root = cfg["scratch_root"]
        self.counter = 0
        self.children_of = _children if os.path.exists(f"/proc/self/task/{os.getpid()}/children") else None
        if self.children_of is None:
            self.children_of = _children_by_scan

    @staticmethod
    def reap():
        """Reap every child that has exited (without waiting)."""
        for _ in _reaped():
            pass

    def sweep(self, keep=(), roots=()):
        """Kill every process below the worker except those in ``keep`` (holders, spares, the factory).

        Every such process gets SIGKILL, and the tree is scanned again until a scan finds no process
        that was not signalled yet (a killed process cannot fork any more); the worker does not wait for
        them to finish exiting (their zombies are reaped later).
        """
        keep = set(keep)
        me = os.getpid()
        signalled = set()
        for round_ in range(200):
            # Orphans are re-parented to the worker (a child subreaper); the processes an execution left
            # under its own process (or under a new session holder) are found from ``roots``. Children of
            # the kept processes are spares (of the factory or of a holder), never walked.
            frontier = list(self.children_of(me, True))  # the worker has one thread
            for r in roots:
                if r in keep:
                    frontier.extend(self.children_of(r))
                elif r:
                    frontier.append(r)
            seen = set()
            new = []
            while frontier:
                p = frontier.pop()
                if p in seen or p in keep:
                    continue
                seen.add(p)
                if p not in signalled and not self.is_zombie(p):
                    new.append(p)
                frontier.extend(self.children_of(p))
            if not new:
                self.reap()
                return round_
            for p in new:
                signalled.add(p)
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
            self.reap()
            if round_ > 2:
                time.sleep(0.001)
        return -1

    @staticmethod
    def is_zombie(pid):
        """Whether ``pid`` has exited (a zombie, or gone)."""
        try:
            with open(f"/proc/{pid}/stat") as fh:
                stat = fh.read()
            return stat[stat.rindex(")") + 2] in "ZX"
        except (OSError, ValueError):
            return True

    @staticmethod
    def alive(pid):
        """Whether ``pid`` runs (not a zombie)."""
        if not pid:
            return False
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return not Janitor.is_zombie(pid)

    @staticmethod
    def kill_group(pid):
        """SIGKILL the process group led by ``pid``, and ``pid`` itself."""
        if not pid:
            return
        for fn in (os.killpg, os.kill):
            try:
                fn(pid, signal.SIGKILL)
            except OSError:
                pass

    def dir_stamps(self):
        """Modification times of the shared writable folders (a folder whose time is unchanged is skipped)."""
        if self.uid is None and not self.cfg.get("sweep_any_owner"):
            return {}
        stamps = {}
        for folder in self.cfg.get("sweep_dirs", []):
            try:
                stamps[folder] = os.stat(folder).st_mtime_ns
            except OSError:
                pass
        return stamps

    def sweep_files(self, since, stamps=None, active=None):
        """Remove what the sandbox user left in shared writable folders (only with a dedicated uid).

        ``active``: a function that returns the paths to keep (the open sessions' and the spares' scratch
        folders, which can lie in a swept folder). It is called after each folder is listed, so the folder
        of a spare that is being made meanwhile is either not listed yet or known to it.
        """
        if self.uid is None and not self.cfg.get("sweep_any_owner"):
            return 0
        removed = 0
        for folder in self.cfg.get("sweep_dirs", []):
            try:
                if stamps is not None and stamps.get(folder) == os.stat(folder).st_mtime_ns:
                    continue  # nothing was created or removed there
                entries = list(os.scandir(folder))
            except OSError:
                continue
            keep = set(active() if active is not None else ()) | set(self.cfg.get("sweep_keep", []))
            for entry in entries:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.path in keep or st.st_mtime < since - 1.0:
                    continue
                if self.uid is not None and st.st_uid != self.uid:
                    continue
                removed += 1
                try:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
                except OSError:
                    pass
        return removed

    def new_scratch(self, name=None):
        """A new private scratch folder, owned by the sandbox user (``name``: else a numbered one)."""
        if name is None:
            self.counter += 1
            name = f"w{os.getpid()}-{self.counter}"
        path = os.path.join(self.scratch_root, name)
        os.mkdir(path, 0o700)
        if self.uid is not None:
            os.chown(path, self.uid, self.gid)
        return path

    @staticmethod
    def remove_tree(path):
        """Remove a scratch folder, whatever modes the code gave its entries."""

        def onerror(func, p, _exc):
            if p == path:
                return  # gone already (a sweep removed it): its parent, the scratch root, keeps its mode
            try:
                os.chmod(os.path.dirname(p), 0o700)
                os.chmod(p, 0o700)
                func(p)
            except OSError:
                pass

        shutil.rmtree(path, onerror=onerror)


# ---------------------------------------------------------------------------------------------- children
class Child:
    """What a process forked to run code does: drop privileges, connect the pipes, run the code, report.

    Every method that runs code ends the process (``os._exit``) or, for a session, turns it into the
    session's holder (:class:`SessionHolder`).
    """

    def __init__(self, cfg, uid, gid, is_root):
        self.cfg = cfg
        self.limits = cfg["limits"]
        self.uid = uid
        self.gid = gid
        self.is_root = is_root
        self.devnull = os.open(os.devnull, os.O_RDWR)
        self.stdio = (sys.stdin, sys.stdout, sys.stderr)

    def become_sandboxed(self, scratch):
        """In a freshly forked child of the worker: own process group, rlimits, unprivileged user."""
        os.setpgid(0, 0)  # (the process stays non-dumpable, as the worker: no ptrace between sandbox processes)
        apply_rlimits(self.limits, self.is_root, self.cfg.get("nproc_base", 0))
        if self.uid is not None:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)
        _prctl(_PR_SET_NO_NEW_PRIVS, 1)
        os.chdir(scratch)
        for key in ("HOME", "TMPDIR", "PWD"):  # the rest of the (scrubbed) environment is the worker's
            os.environ[key] = scratch

    @staticmethod
    def fresh_namespace():
        """The globals of a new program."""
        return {"__name__": "__main__", "__builtins__": builtins, "__doc__": None}

    def run(self, req, ns, fds, sock=None, done_w=None):
        """Body of an execution child forked by a session holder (never returns)."""
        try:
            self.prepare(fds, [sock.fileno() if sock is not None else None, done_w])
        except BaseException:
            os._exit(_EXIT_CHILD_FAILED)
        self.run_prepared(req, ns, fds[2], sock=sock, done_w=done_w)

    def spare(self, scratch, pipes, go):
        """Body of a spare: sandboxed and connected ahead of time, it waits for a request on ``go``.

        ``pipes`` (stdout, stderr, result) and ``go`` are ``(read, write)`` pairs; the worker has the other
        ends. Never returns: the caller's ``finally`` exits if anything here fails.
        """
        go_r, go_w = go
        os.close(go_w)
        for r, _w in pipes:
            os.close(r)
        try:
            self.become_sandboxed(scratch)
        except BaseException:
            try:  # the run this spare was made for reports the cause with its status 70
                os.write(pipes[1][1], ("toolgym sandbox: spare setup failed:\n" + traceback.format_exc()).encode())
            except BaseException:
                pass
            raise
        self.prepare([w for _r, w in pipes], [go_r])
        head = _read_exact(go_r, _HDR.size)
        body = _read_exact(go_r, _HDR.unpack(head)[0]) if head else None
        if body is None:
            os._exit(0)  # the worker went away, or closed the sandbox
        os.close(go_r)
        self.run_prepared(json.loads(body.decode("utf-8")), self.fresh_namespace(), pipes[2][1])

    def prepare(self, fds, keep=()):
        """Own process group; stdout/stderr to the execution's pipes; every other descriptor closed."""
        out_w, err_w, res_w = fds
        os.setpgid(0, 0)
        os.dup2(self.devnull, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        _close_fds_except([res_w, self.devnull, *keep])
        # The worker's line-buffered streams on fds 0/1/2 (see main), which now lead to /dev/null and to
        # this execution's pipes (restored in a session, where earlier code may have replaced them).
        streams = []
        for fd, stream in enumerate(self.stdio):
            if stream.closed:
                mode = "r" if fd == 0 else "w"
                stream = open(fd, mode, encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
            streams.append(stream)
        sys.stdin, sys.stdout, sys.stderr = streams
        sys.__stdin__, sys.__stdout__, sys.__stderr__ = streams

    def run_prepared(self, req, ns, res_w, sock=None, done_w=None):
        """Run the request's code in a prepared child, report, then exit or take over the session."""
        try:
            cap_cpu_to_timeout(self.limits, float(req.get("timeout") or self.limits["wall_s"]))
            sys.argv = [req.get("filename", "<code>")]
            res = _execute(req["code"], ns, req.get("filename", "<code>"), self.limits)
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except BaseException:
                    pass
            os.dup2(self.devnull, 1)
            os.dup2(self.devnull, 2)
            res["holder"] = None
            if req.get("persist") and sock is not None:
                holder = SessionHolder(self, sock, ns)
                if _thread_count() > 1:
                    # Threads the code left running would keep changing the state: a fork keeps the
                    # state without them, and that fork becomes the session holder.
                    pid = os.fork()
                    if pid == 0:
                        try:
                            os.close(res_w)
                            os.setpgid(0, 0)
                            holder.take_over(done_w)
                        finally:
                            os._exit(0)
                    res["holder"] = pid
                else:  # this process becomes the session holder
                    res["holder"] = os.getpid()
                    _write_all(res_w, _frame(res))
                    os.close(res_w)
                    holder.take_over(done_w)
            _write_all(res_w, _frame(res))
            os.close(res_w)
        except BaseException:
            try:  # a failure of the sandbox itself: tell the host on stderr
                os.write(2, ("toolgym sandbox: execution setup failed:\n" + traceback.format_exc()).encode())
            except BaseException:
                pass
            os._exit(_EXIT_CHILD_FAILED)
        os._exit(0)


class SessionHolder:
    """A session holder: keeps a session's globals and forks a child from them per run.

    After a run that does not keep its state (``persist=False``, e.g. a test), the holder forks the child
    for the next run while this one executes (a "spare", reported to the worker so its sweeps keep it): a
    series of tests then costs no fork on the critical path.
    """

    def __init__(self, child, sock, ns):
        self.child = child
        self.sock = sock
        self.ns = ns

    def take_over(self, done_w):
        """Take over a session after an execution completed (never returns)."""
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        if hard != resource.RLIM_INFINITY:
            resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
        try:
            os.write(done_w, b"1")  # the previous holder exits when it reads this
        except OSError:
            pass
        os.close(done_w)
        self.serve()
        os._exit(0)

    def serve(self):
        """Wait for executions and run each in a child forked from the session's state (never returns)."""
        sock = self.sock
        sock.setblocking(True)
        spare = None
        while True:
            Janitor.reap()
            req, fds = _recv_request(sock)
            if req is None:
                os._exit(0)
            if req.get("op") != "run" or len(fds) != 3:
                for fd in fds:
                    os.close(fd)
                continue
            done_r, done_w = os.pipe()
            pid = None
            if spare is not None:
                try:
                    socket.send_fds(spare[1], [_frame(req)], [*fds, done_w])
                    pid = spare[0]
                except OSError:
                    os.kill(spare[0], signal.SIGKILL)
                spare[1].close()
                spare = None
            if pid is None:
                pid = os.fork()
                if pid == 0:
                    os.close(done_r)
                    self.child.run(req, self.ns, fds, sock=sock, done_w=done_w)
            for fd in (*fds, done_w):
                os.close(fd)
            _send_event(sock, {"event": "forked", "run": req["run"], "pid": pid})
            if not req.get("persist"):
                spare = self.fork_spare([done_r])
                if spare is not None:
                    _send_event(sock, {"event": "spare", "run": req["run"], "pid": spare[0]})
            data = b""
            try:
                data = os.read(done_r, 1)
            except OSError:
                pass
            os.close(done_r)
            if data == b"1":
                os._exit(0)  # the execution's child took over the session
            try:
                _, status, ru = os.wait4(pid, 0)
            except ChildProcessError:
                status, ru = 0, None
            _send_event(
                sock,
                {
                    "event": "exited",
                    "run": req["run"],
                    "status": status,
                    "cpu_s": (ru.ru_utime + ru.ru_stime) if ru else 0.0,
                },
            )

    def fork_spare(self, close=()):
        """Fork a child of this holder that waits for the next run's request; return (pid, control socket)."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid = os.fork()
        except OSError:
            mine.close()
            theirs.close()
            return None
        if pid == 0:
            try:
                mine.close()
                for fd in close:
                    os.close(fd)
                req, fds = _recv_request(theirs, 4)
                if req is None or len(fds) != 4:
                    os._exit(0)
                theirs.close()
                out_w, err_w, res_w, done_w = fds
                self.child.prepare([out_w, err_w, res_w], [self.sock.fileno(), done_w])
            except BaseException:
                os._exit(_EXIT_CHILD_FAILED)
            self.child.run_prepared(req, self.ns, res_w, sock=self.sock, done_w=done_w)
        theirs.close()
        return (pid, mine)


# ---------------------------------------------------------------------------------------------- spares
class SpareFactory:
    """Spares for one-shot runs: sandboxed children forked ahead of time from the clean template.

    A factory process (a copy of the template) forks them in parallel with the worker, which only sends
    one byte per spare and later receives the spare's pipes; when the factory fails, the worker forks them
    itself. Attributes: ``spare`` (the ready spare, or None), ``factory`` (the factory process, or None).
    """

    def __init__(self, child, janitor):
        self.child = child
        self.janitor = janitor
        self.spare = None
        self.factory = None
        self.exit_status = {}

    def pids(self):
        """The spare's and the factory's process ids (they survive sweeps)."""
        return {p for p in (self.spare and self.spare["pid"], self.factory and self.factory["pid"]) if p}

    @staticmethod
    def scratch_name(pid):
        """The name of the scratch folder of the spare ``pid`` forked by the factory."""
        return f"s{pid}"

    def scratch_folders(self):
        """The scratch folders of the ready spare and of the spares the factory is making (file sweeps keep them).

        A spare forked by the factory makes its folder (named after its pid) before the worker hears of it,
        often while a run is under way: those folders are found from the factory's children.
        """
        folders = {self.spare["scratch"]} if self.spare is not None else set()
        if self.factory is not None:
            for pid in self.janitor.children_of(self.factory["pid"], True):  # the factory has one thread
                folders.add(os.path.join(self.janitor.scratch_root, self.scratch_name(pid)))
        return folders

    def make_spare(self):
        """Fork a sandboxed child, ready to run code (off the critical path of the next one-shot run).

        The spare drops privileges, applies the limits and connects its stdout, stderr and result pipes,
        then waits for a request on its own pipe. It is forked from the clean template like any child.
        """
        scratch = self.janitor.new_scratch()
        pipes = [os.pipe() for _ in range(3)]
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                self.child.spare(scratch, pipes, (go_r, go_w))
            finally:
                os._exit(_EXIT_CHILD_FAILED)
        os.close(go_r)
        for _r, w in pipes:
            os.close(w)
        self.spare = {"pid": pid, "go": go_w, "fds": [r for r, _w in pipes], "scratch": scratch, "parent": "worker"}

    def start(self):
        """Fork the factory: a copy of the clean template that forks spares when the worker asks."""
        pid, mine = _fork_connected(self.factory_loop, [self.child.devnull], 0)
        self.factory = {"pid": pid, "sock": mine, "pending": 0}

    def factory_loop(self, sock):
        """The factory: fork a spare per command byte; report each child's exit status to the worker."""
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        poller = select.poll()
        poller.register(sock.fileno(), select.POLLIN)
        poller.register(wake_r, select.POLLIN)
        while True:
            try:
                events = poller.poll()
            except InterruptedError:
                events = []
            for fd, _ev in events:
                if fd == wake_r:
                    try:
                        os.read(wake_r, 4096)
                    except OSError:
                        pass
                    continue
                try:
                    cmd = sock.recv(1)
                except OSError:
                    cmd = b""
                if not cmd:
                    os._exit(0)
                try:
                    pid = os.fork()
                except OSError as e:  # say so at once: the worker then forks the spare itself, without waiting
                    try:
                        sock.sendall(_frame({"fork_failed": e.errno or 0}))
                    except OSError:
                        os._exit(0)
                    continue
                if pid == 0:
                    signal.set_wakeup_fd(-1)
                    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                    os.close(wake_r)
                    os.close(wake_w)
                    self.spare_main(sock)
            for pid, status in _reaped():
                try:
                    sock.sendall(_frame({"exited": pid, "status": status}))
                except OSError:
                    os._exit(0)

    def spare_main(self, sock):
        """A spare forked by the factory: hand the pipes to the worker, become sandboxed, wait for code."""
        try:
            scratch = self.janitor.new_scratch(self.scratch_name(os.getpid()))
            pipes = [os.pipe() for _ in range(3)]
            go_r, go_w = os.pipe()
            socket.send_fds(sock, [_frame({"pid": os.getpid(), "scratch": scratch})], [r for r, _w in pipes] + [go_w])
            sock.close()
            self.child.spare(scratch, pipes, (go_r, go_w))
        finally:
            os._exit(_EXIT_CHILD_FAILED)

    def order(self):
        """Ask the factory for a spare (returns at once; the spare is collected by :meth:`take`)."""
        f = self.factory
        if f is None or f["pending"] or self.spare is not None:
            return
        try:
            f["sock"].sendall(b"f")
            f["pending"] = 1
        except OSError:
            self.factory = None

    def replenish(self):
        """Have a spare ready for the next one-shot run (ordered from the factory, else forked here)."""
        if self.spare is not None:
            return
        if self.factory is not None:
            self.order()  # the factory forks it while the host reads the reply
        else:
            try:
                self.make_spare()
            except OSError:
                self.spare = None

    def settle(self, deadline):
        """Wait (until ``deadline``) for the spare the factory is making."""
        while self.factory is not None and self.factory["pending"] and time.monotonic() < deadline:
            self.pump(max(deadline - time.monotonic(), 0.0))

    def take(self, timeout=5.0):
        """The ready spare: collected from the factory, or forked here when the factory fails."""
        if self.spare is not None and not self.janitor.alive(self.spare["pid"]):
            self.drop()
        if self.spare is None and self.factory is not None:
            self.order()
            self.settle(time.monotonic() + timeout)  # until the spare comes, the factory says none will, or time
        if self.spare is None:
            self.make_spare()
        spare, self.spare = self.spare, None
        return spare

    def pump(self, timeout):
        """Read one message from the factory: a new spare's pipes, or a child's exit status."""
        f = self.factory
        if f is None:
            return
        sock = f["sock"]
        ready, _, _ = select.select([sock], [], [], timeout)
        if not ready:
            return
        info, fds = _recv_request(sock, 4)
        if not isinstance(info, dict):
            self.factory = None  # a broken factory: spares are forked by the worker from now on
            return
        if "fork_failed" in info:  # no spare is coming; the next order asks again
            f["pending"] = 0
            return
        if "exited" in info:
            self.exit_status[int(info["exited"])] = int(info["status"])
            while len(self.exit_status) > 256:
                self.exit_status.pop(next(iter(self.exit_status)))
            return
        f["pending"] = 0
        spare = {"pid": int(info["pid"]), "go": -1, "fds": [], "scratch": info["scratch"], "parent": "factory"}
        if len(fds) == 4:
            spare["fds"], spare["go"] = list(fds[:3]), fds[3]
        else:
            for fd in fds:
                os.close(fd)
        if self.spare is None and spare["go"] >= 0:
            self.spare = spare
        else:
            self.discard(spare)  # another is ready, or this one came without its pipes

    def drop(self):
        """Kill the ready spare, if any."""
        sp, self.spare = self.spare, None
        if sp is not None:
            self.discard(sp)

    def discard(self, sp):
        """Close a spare's pipes, kill it and remove its scratch folder."""
        for fd in (sp["go"], *sp["fds"]):
            if fd < 0:
                continue
            try:
                os.close(fd)
            except OSError:
                pass
        self.janitor.kill_group(sp["pid"])
        self.janitor.remove_tree(sp["scratch"])

    def close(self):
        """Kill the spare and stop the factory."""
        self.drop()
        if self.factory is not None:
            self.factory["sock"].close()
            self.factory = None


# ---------------------------------------------------------------------------------------------- worker
class Worker:
    """The request loop of the worker process (see the module docstring).

    It serves the host's requests with its parts: :class:`Child` (what a forked child does),
    :class:`SpareFactory` (children forked ahead of one-shot runs), :class:`SessionHolder` (a session's
    process) and :class:`Janitor` (cleaning up processes and files).
    """

    def __init__(self, cfg, chan):
        self.cfg = cfg
        self.chan = chan
        self.limits = cfg["limits"]
        is_root = os.geteuid() == 0
        uid = cfg.get("uid") if is_root else None
        gid = cfg.get("gid") if is_root else None
        self.janitor = Janitor(cfg, uid, gid)
        self.child = Child(cfg, uid, gid, is_root)
        self.spares = SpareFactory(self.child, self.janitor)
        self.sessions = {}
        self.used_once = False

    # ------------------------------------------------------------------ loop
    def serve(self):
        while True:
            msg = self.chan.recv()
            if msg is None:
                self.shutdown()
                return
            op = msg.get("op")
            try:
                if op == "run":
                    reply = self.op_run(msg)
                elif op == "open":
                    reply = self.op_open(msg)
                elif op == "close":
                    reply = self.op_close(msg)
                elif op == "hello":
                    reply = self.op_hello()
                elif op == "status":
                    reply = self.op_status()
                elif op == "shutdown":
                    self.shutdown()
                    self.chan.send({"id": msg.get("id"), "ok": True})
                    return
                else:
                    reply = {"error": f"unknown op {op!r}"}
            except Exception as exc:  # a worker bug: report it instead of dying
                where = traceback.extract_tb(exc.__traceback__)[-3:]
                at = "; ".join(f"line {f.lineno} in {f.name}" for f in where)
                reply = {"error": f"worker error: {type(exc).__name__}: {exc} (at {at})"}
            reply["id"] = msg.get("id")
            self.chan.send(reply)
            self.janitor.reap()
            if op == "run" and msg.get("session") is None:
                self.used_once = True
            if self.used_once:
                self.spares.replenish()

    def op_hello(self):
        return {
            "pid": os.getpid(),
            "uid": os.getuid(),
            "euid": os.geteuid(),
            "drop_uid": self.janitor.uid,
            "python": sys.version.split()[0],
            "executable": sys.executable,
            "preloaded": self.cfg.get("preloaded", []),
            "preload_failed": self.cfg.get("preload_failed", []),
            "exposed": self.cfg.get("exposed", []),
            "expose_error": self.cfg.get("expose_error"),
        }

    def op_status(self):
        deadline = time.monotonic() + 2.0  # account for the spares being made
        self.spares.settle(deadline)
        self.drain_session_events(deadline)
        spares = self.spares
        return {
            "spare": spares.spare["pid"] if spares.spare else None,
            "holders": sorted(self.holders()),
            "session_spares": sorted(self.session_spares()),
            "factory": spares.factory["pid"] if spares.factory else None,
        }

    # ------------------------------------------------------------------ processes
    def holders(self):
        return {s["holder"] for s in self.sessions.values() if s["holder"]}

    def session_spares(self):
        return {s["spare"] for s in self.sessions.values() if s.get("spare")}

    def keep_pids(self):
        """Processes below the worker that must survive a sweep: session holders, the spares, the factory."""
        return self.holders() | self.session_spares() | self.spares.pids()

    def active_scratch(self):
        """The open sessions' and the spares' scratch folders (file sweeps keep them)."""
        return {s["scratch"] for s in self.sessions.values()} | self.spares.scratch_folders()

    def clean_up(self, roots, since, stamps=None):
        """After a run: kill what it left running, remove what it left in shared folders."""
        self.janitor.sweep(self.keep_pids(), roots=roots)
        self.janitor.sweep_files(since, stamps, self.active_scratch)

    # ------------------------------------------------------------------ operations
    def op_open(self, msg):
        sid = msg["session"]
        if sid in self.sessions:
            return {"error": f"session {sid!r} is already open"}
        scratch = self.janitor.new_scratch()

        def holder(sock):
            self.child.become_sandboxed(scratch)
            SessionHolder(self.child, sock, self.child.fresh_namespace()).serve()

        pid, mine = _fork_connected(holder, [self.child.devnull], _EXIT_CHILD_FAILED)
        mine.setblocking(False)
        self.sessions[sid] = {
            "sock": mine,
            "events": _EventReader(mine),
            "holder": pid,
            "scratch": scratch,
            "opened": time.time(),
            "runs": 0,
            "spare": None,
        }
        return {"session": sid, "holder": pid}

    def op_close(self, msg):
        s = self.sessions.pop(msg.get("session"), None)
        if s is None:
            return {"closed": False}
        self.end_session(s)
        return {"closed": True}

    def end_session(self, s):
        try:
            s["sock"].close()
        except OSError:
            pass
        for pid in (s["holder"], s.get("spare")):
            if pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        self.clean_up((), s["opened"])
        self.janitor.remove_tree(s["scratch"])

    def shutdown(self):
        self.spares.close()
        for sid in list(self.sessions):
            s = self.sessions.pop(sid)
            try:
                s["sock"].close()
            except OSError:
                pass
            self.janitor.remove_tree(s["scratch"])
        self.janitor.sweep(())
        # Wait (briefly) until every killed process has exited and is reaped: nothing outlives close().
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            self.janitor.sweep(())
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                time.sleep(0.002)
        self.janitor.sweep_files(self.cfg.get("started", 0.0))

    def op_run(self, msg):
        code = msg.get("code")
        if not isinstance(code, str):
            return {"status": "rejected", "message": "code must be a str"}
        max_code = self.limits.get("max_code_bytes")
        if max_code and len(code) > max_code:
            return {
                "status": "rejected",
                "limit": "code_size",
                "message": f"the code has {len(code)} characters; the limit is {max_code}",
            }
        timeout = float(msg.get("timeout") or self.limits["wall_s"])
        sid = msg.get("session")
        if sid is not None:
            s = self.sessions.get(sid)
            if s is None:
                return {"status": "session_lost", "message": f"no open session {sid!r}"}
            return self.run_in_session(msg, s, timeout)
        return self.run_once(msg, timeout)

    def run_once(self, msg, timeout):
        started = time.time()
        stamps = self.janitor.dir_stamps()
        t0 = time.monotonic()
        deadline = t0 + timeout
        spares = self.spares
        spare = spares.take()
        if self.cfg.get("order_early", True):
            spares.order()  # the next spare is forked while this one runs
        pid, scratch = spare["pid"], spare["scratch"]
        mine = spare["parent"] == "worker"  # else the factory reports its exit status
        body = json.dumps(msg, ensure_ascii=True).encode("ascii")
        try:
            _write_all(spare["go"], _HDR.pack(len(body)) + body)
        except OSError:
            pass  # the spare died: the collection below reports it
        os.close(spare["go"])
        col = _Collector(spare["fds"], self.limits)
        fsock = spares.factory["sock"].fileno() if (spares.factory is not None and not mine) else None
        status = None
        killed_by = None
        stopped = False
        while True:
            now = time.monotonic()
            if status is None:
                if mine:
                    got, st, _ru = os.wait4(pid, os.WNOHANG)
                    if got == pid:
                        status = st
                elif pid in spares.exit_status:
                    status = spares.exit_status.pop(pid)
            finished = status is not None or col.result_ready()
            if finished and (col.all_eof() or col.grace_over(now)):
                break  # (a child that delivered its result is not waited for: its exit is reaped later)
            killed_by, stopped = self.enforce_limits(col, pid, now, deadline, killed_by, stopped)
            if stopped and now >= deadline + _KILL_WAIT_S:
                break
            wait = 0.01 if stopped or finished else min(max(deadline - now, 0.0), 1.0)
            if mine and col.all_eof():
                wait = 0.001
            ready = col.poll([fsock] if fsock is not None else [], wait, now if finished else None)
            if fsock is not None and fsock in ready:
                spares.pump(0.0)
                if spares.factory is None:
                    fsock = None
        col.close()
        self.janitor.sweep(self.keep_pids(), roots=[pid])
        wall = time.monotonic() - t0
        self.janitor.sweep_files(started, stamps, self.active_scratch)
        self.janitor.remove_tree(scratch)
        if status is None and col.result_ready():
            status = 0  # it delivered its result; its exit is not waited for
        return col.result(status, killed_by, wall)

    def enforce_limits(self, col, pid, now, deadline, killed_by, stopped):
        """Kill a run's process group once its output or wall time is over the limit; return the new state."""
        if col.over_limit and killed_by is None:
            killed_by, stopped = "output", True
            self.janitor.kill_group(pid)
        if now >= deadline and killed_by is None and not stopped:
            stopped = True
            if not col.result_ready():  # else the code finished and the process is only slow to exit
                killed_by = "wall_time"
            self.janitor.kill_group(pid)
        return killed_by, stopped

    def run_in_session(self, msg, s, timeout):
        started = time.time()
        stamps = self.janitor.dir_stamps()
        t0 = time.monotonic()
        deadline = t0 + timeout
        s["runs"] += 1
        run_id = s["runs"]
        req = {
            "op": "run",
            "run": run_id,
            "code": msg["code"],
            "timeout": timeout,
            "persist": bool(msg.get("persist", True)),
            "filename": msg.get("filename") or "<code>",
        }
        pipes = [os.pipe() for _ in range(3)]
        body = json.dumps(req, ensure_ascii=True).encode("ascii")
        sock = s["sock"]
        try:
            sock.setblocking(True)
            socket.send_fds(sock, [_HDR.pack(len(body))], [w for _r, w in pipes])
            sock.sendall(body)
            sock.setblocking(False)
        except OSError:
            for r, w in pipes:
                os.close(r)
                os.close(w)
            return self.session_lost(s, msg, "the session holder is gone")
        for _r, w in pipes:
            os.close(w)
        events = s["events"]
        col = _Collector([r for r, _w in pipes], self.limits)
        child = None
        status = None
        killed_by = None
        stopped = False
        while True:
            now = time.monotonic()
            for ev in self.session_events(s):
                if ev.get("run") == run_id:
                    if ev.get("event") == "forked":
                        child = int(ev["pid"])
                    elif ev.get("event") == "exited":
                        status = int(ev["status"])
                        col.cpu_s = float(ev.get("cpu_s") or 0.0)
            finished = status is not None or col.result_ready()
            # (the "forked" event names the run's process, whose leftovers the sweep below kills)
            if finished and (col.all_eof() or col.grace_over(now)) and (child is not None or events.eof):
                break
            if finished and now > deadline + _KILL_WAIT_S:
                break
            if events.eof and col.all_eof():
                break
            killed_by, stopped = self.enforce_limits(col, child, now, deadline, killed_by, stopped)
            if stopped and now >= deadline + _KILL_WAIT_S:
                break
            wait = 0.01 if stopped or finished else min(max(deadline - now, 0.0), 1.0)
            extra = [sock.fileno()] if not events.eof else []
            ready = col.poll(extra, wait, now if finished else None)
            if sock.fileno() in ready:
                events.feed()
        col.close()
        res = col.parsed_result()
        holder = res.get("holder") if res else None
        if holder:
            s["holder"] = int(holder)
            s["spare"] = None
            s["holder_run"] = run_id  # spares announced for earlier runs belonged to the old holder
        self.clean_up([int(holder) if holder else child], started, stamps)
        out = col.result(status if status is not None else (0 if res else None), killed_by, time.monotonic() - t0)
        out["persisted"] = bool(holder)
        if not holder and (events.eof or not self.janitor.alive(s["holder"])):
            lost = self.session_lost(s, msg, "the session holder died during the execution")
            out["status_note"] = lost["message"]
            out["session_lost"] = True
        return out

    def drain_session_events(self, deadline):
        """Read the events the holders sent since their last run (waiting until quiet, or ``deadline``)."""
        socks = {s["sock"].fileno(): s for s in self.sessions.values() if not s["events"].eof}
        while socks and time.monotonic() < deadline:
            ready, _, _ = select.select(list(socks), [], [], 0.05)
            if not ready:
                return
            for fd in ready:
                socks[fd]["events"].feed()
                self.session_events(socks[fd])

    def session_events(self, s):
        """The session's complete events so far (records the spares its holder announces)."""
        events = s["events"]
        out = []
        ev = events.pop()
        while ev is not None:
            if ev.get("event") == "spare" and int(ev.get("run", 0)) > s.get("holder_run", 0):
                s["spare"] = int(ev["pid"])
            out.append(ev)
            ev = events.pop()
        return out

    def session_lost(self, s, msg, why):
        sid = msg.get("session")
        self.sessions.pop(sid, None)
        self.end_session(s)
        return {"status": "session_lost", "message": why, "session_lost": True}


class _Collector:
    """Reads an execution's stdout, stderr and result pipes with size caps."""

    def __init__(self, fds, limits):
        self.fds = {"stdout": fds[0], "stderr": fds[1], "result": fds[2]}
        self.keep = int(limits.get("output_bytes", 65536))
        self.hard = int(limits.get("output_limit_bytes", 8 << 20))
        self.data = {"stdout": bytearray(), "stderr": bytearray(), "result": bytearray()}
        self.total = {"stdout": 0, "stderr": 0, "result": 0}
        self.open = {k: True for k in self.fds}
        self.over_limit = False
        self.finished_at = None
        self.cpu_s = None
        self.poller = select.poll()
        self.by_fd = {}
        for name, fd in self.fds.items():
            self.poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
            self.by_fd[fd] = name
        self.extra = set()

    def all_eof(self):
        return not any(self.open.values())

    def grace_over(self, now):
        if self.finished_at is None:
            self.finished_at = now
        return now - self.finished_at >= _GRACE_S

    def result_ready(self):
        raw = self.data["result"]
        return len(raw) >= _HDR.size and len(raw) >= _HDR.size + _HDR.unpack(bytes(raw[: _HDR.size]))[0]

    def poll(self, extra, timeout_s, finished_now):
        if finished_now is not None and self.finished_at is None:
            self.finished_at = finished_now
        for fd in extra:
            if fd not in self.extra:
                self.poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
                self.extra.add(fd)
        for fd in list(self.extra):
            if fd not in extra:
                self.poller.unregister(fd)
                self.extra.discard(fd)
        try:
            events = self.poller.poll(max(timeout_s, 0.0) * 1000.0)
        except InterruptedError:
            return set()
        ready = set()
        for fd, _ev in events:
            name = self.by_fd.get(fd)
            if name is None:
                ready.add(fd)
                continue
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self.open[name] = False
                self.poller.unregister(fd)
                continue
            self.total[name] += len(chunk)
            if name == "result":
                if self.total["result"] <= (64 << 20):
                    self.data["result"] += chunk
            elif len(self.data[name]) < self.keep:
                self.data[name] += chunk[: self.keep - len(self.data[name])]
            if self.total["stdout"] + self.total["stderr"] > self.hard:
                self.over_limit = True
        return ready

    def close(self):
        for name, fd in self.fds.items():
            if self.open[name]:
                try:
                    self.poller.unregister(fd)
                except (KeyError, ValueError):
                    pass
            os.close(fd)
        self.open = {k: False for k in self.fds}

    def parsed_result(self):
        raw = bytes(self.data["result"])
        if len(raw) < _HDR.size:
            return None
        n = _HDR.unpack(raw[: _HDR.size])[0]
        body = raw[_HDR.size : _HDR.size + n]
        if len(body) != n:
            return None
        try:
            res = json.loads(body.decode("utf-8"))
        except ValueError:
            return None
        return res if isinstance(res, dict) else None

    def result(self, status, killed_by, wall):
        res = self.parsed_result()
        out = {
            "stdout": self.data["stdout"].decode("utf-8", "replace"),
            "stderr": self.data["stderr"].decode("utf-8", "replace"),
            "stdout_bytes": self.total["stdout"],
            "stderr_bytes": self.total["stderr"],
            "wall_s": wall,
            "limit": killed_by,
        }
        if self.cpu_s is not None:
            out["cpu_s"] = self.cpu_s
        if status is not None:
            if os.WIFSIGNALED(status):
                out["signal"] = os.WTERMSIG(status)
            elif os.WIFEXITED(status):
                out["exit_code"] = os.WEXITSTATUS(status)
        if res is not None:
            for key in ("exception", "message", "traceback", "value", "errno", "exec_s"):
                out[key] = res.get(key)
            if res.get("exit_code") is not None:
                out["exit_code"] = res["exit_code"]
            if "cpu_s" not in out:
                out["cpu_s"] = res.get("cpu_s", 0.0)
            out["completed"] = True
        else:
            out["completed"] = False
        return out


def main():
    cfg = json.loads(sys.argv[1])
    cfg["started"] = time.time()
    in_fd = os.dup(0)
    out_fd = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    # Line-buffered UTF-8 streams on fds 0/1/2, inherited by every execution child (whose fds 1 and 2
    # lead to its output pipes): created once here instead of in each child.
    sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", closefd=False)
    sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)
    _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    _prctl(_PR_SET_DUMPABLE, 0)
    if cfg.get("die_with_parent"):
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    sys.dont_write_bytecode = True
    for path in reversed(cfg.get("sys_path", [])):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.makedirs(cfg["scratch_root"], exist_ok=True)
    cfg["exposed"] = []
    if cfg.get("expose"):
        try:
            cfg["exposed"] = _expose(cfg["expose"], cfg["scratch_root"])
        except OSError as exc:
            cfg["expose_error"] = str(exc)
    import importlib

    loaded, failed = [], []
    for name in cfg.get("preload", []):
        try:
            importlib.import_module(name)
            loaded.append(name)
        except BaseException:  # a missing optional module must not stop the worker
            failed.append(name)
    cfg["preloaded"], cfg["preload_failed"] = loaded, failed
    import gc

    gc.collect()
    gc.freeze()  # the template's objects are never scanned by a child's garbage collector
    worker = Worker(cfg, Channel(in_fd, out_fd))
    if cfg.get("factory", True):
        worker.spares.start()
    worker.serve()


if __name__ == "__main__":
    main()
    os._exit(0)
