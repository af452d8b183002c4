"""Workers, beats, bridges and feeds forked from an interpreter that has already imported what they import.

A worker's start costs well over a second of CPU on these machines, and most of it is importing: Celery's
command line (with every plugin it loads, Flower's among them), redis-py, pydantic and the package. The suite,
the benchmarks' quick runs and the fault campaign start a couple of hundred workers and beats, so they pay that
again and again for the same modules. A fork server pays it once per harness parent: each start is a
``fork()`` of a process that imported those modules and nothing else, which then runs the same command line
(``python -m celery -A mt5_worker.worker.app worker ...``) with its own environment, directory and log file,
in a session of its own, as :class:`~mt5_worker.cli.devstack.ManagedProcess` starts it. Bridges
(``python -m mt5_worker.bridge.server``) and feeds (``python -m mt5_worker.feed.main``) start the same way.

What the fork server must not hold is state the command reads from its environment. The app is imported, not
configured: Celery loads ``celeryconfig`` and the worker reads its ``MT5_*`` settings when the command runs, in
the forked child, from that child's environment (the server refuses to start otherwise). The production
command itself, from an empty interpreter, keeps its own tests (``mt5-worker demo``, the CLI and README tests).

The server reaps a child only when asked (``poll``), as ``subprocess.Popen`` does: an unreaped child's pid, and
so its process group id, is never given to another process while the harness may still signal it.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import runpy
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from harness.env import REPO, interpreter_env

# What a forked child may run as ``python -m``, each with what to import for it. An entry module is imported for
# what it imports and then forgotten (a package's ``__main__``), so that the child runs a fresh copy as __main__,
# as ``python -m`` does.
ENTRY_MODULES = {
    "celery": ("celery.bin.celery", "mt5_worker.worker.app"),  # workers and beat
    "mt5_worker.bridge.server": ("mt5_worker.bridge.server",),
    "mt5_worker.feed.main": ("mt5_worker.feed.main",),
}
# Read when an interpreter starts, so fixed by the server's: a child asking for other values would not get them.
INTERPRETER_VARIABLES = ("PYTHON", "OPENBLAS")


class ForkedChild:
    """A child of the fork server, answering as much of ``subprocess.Popen`` as the harness uses."""

    def __init__(self, server: ForkServer, pid: int, argv: Sequence[str]) -> None:
        self._server, self.pid, self.args = server, pid, list(argv)
        self.returncode: int | None = None
        self._reaping = threading.Lock()  # two threads must not both reap: the second would ask about a reused pid

    def poll(self) -> int | None:
        with self._reaping:
            if self.returncode is None:
                self.returncode = self._server.poll(self.pid)
            return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
            time.sleep(0.02)
        return code


class ForkServer:
    """One server process per harness parent; requests and answers are JSON lines on its stdin and stdout."""

    def __init__(self) -> None:
        env = interpreter_env()
        self._interpreter = _interpreter_variables(env)
        # A session of its own: a Ctrl-C meant for the harness must not end the server before the harness has
        # stopped the children (they are in sessions of their own and would be left running).
        self._process = subprocess.Popen(
            [sys.executable, "-m", "harness.forkserver"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            cwd=REPO, start_new_session=True,
        )  # fmt: skip
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._ask({"op": "ping"})  # fails here, with the server's error, if it could not import the app

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    def spawn(self, argv: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path | None) -> ForkedChild:
        """``argv`` is ``python -m <module> ...``, the module one of :data:`ENTRY_MODULES`: run it in a forked child,
        its output appended to ``log_path``."""
        if len(argv) < 3 or argv[1] != "-m" or argv[2] not in ENTRY_MODULES:
            raise ValueError(f"the fork server runs python -m with one of {sorted(ENTRY_MODULES)}, not {argv!r}")
        if _interpreter_variables(env) != self._interpreter:
            raise ValueError(f"the fork server's interpreter started with {self._interpreter}; this command asks for "
                             f"{_interpreter_variables(env)}: start it with ManagedProcess instead")  # fmt: skip
        pid = self._ask({"op": "spawn", "module": argv[2], "args": list(argv[3:]), "env": dict(env),
                         "log": str(log_path.resolve()), "cwd": str((cwd or Path.cwd()).resolve())})["pid"]  # fmt: skip
        return ForkedChild(self, int(pid), argv)

    def poll(self, pid: int) -> int | None:
        code = self._ask({"op": "poll", "pid": pid})["returncode"]
        return None if code is None else int(code)

    def close(self) -> None:
        if self._process.stdin is not None:
            with contextlib.suppress(OSError):
                self._process.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(5)

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """Send ``request`` and read its answer. Answers carry their request's id: an exception between a send and
        its read (a test's timeout) leaves an answer unread, which the next request skips instead of taking."""
        assert self._process.stdin is not None and self._process.stdout is not None
        with self._lock:
            request_id = next(self._ids)
            self._process.stdin.write(json.dumps(request | {"id": request_id}).encode() + b"\n")
            self._process.stdin.flush()
            while True:
                line = self._process.stdout.readline()
                if not line:
                    raise RuntimeError(f"the fork server exited (code {self._process.poll()})")
                answer: dict[str, Any] = json.loads(line)
                if answer.get("id") == request_id:
                    break
                if "pid" in answer:  # a child nobody holds: unreaped still, so its group id is safe to signal
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(answer["pid"], signal.SIGKILL)
        if "error" in answer:
            raise RuntimeError(f"the fork server refused {request.get('op')}: {answer['error']}")
        return answer


_servers: dict[int, ForkServer] = {}
_servers_lock = threading.Lock()


def fork_server() -> ForkServer:
    """This process's fork server, started on first use and closed when this process exits."""
    with _servers_lock:
        server = _servers.get(os.getpid())  # a forked harness parent must not share its parent's pipes
        if server is None or not server.alive:
            server = _servers[os.getpid()] = ForkServer()
            atexit.register(server.close)
        return server


def _interpreter_variables(env: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in env.items() if name.startswith(INTERPRETER_VARIABLES)}


# --- the server ------------------------------------------------------------------------------------------------

_unreaped: set[int] = set()


def _serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    for line in requests:
        request = json.loads(line)
        try:
            answer = _handle(request)
        except Exception as e:  # any failure is the caller's to see
            answer = {"error": f"{type(e).__name__}: {e}"}
        answers.write(json.dumps(answer | {"id": request.get("id")}).encode() + b"\n")
        answers.flush()
    # The harness is gone (its end closed our stdin): nobody will stop what it started.
    for pid in _unreaped:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def _handle(request: dict[str, Any]) -> dict[str, Any]:
    op = request["op"]
    if op == "ping":
        return {}
    if op == "poll":
        pid, status = os.waitpid(request["pid"], os.WNOHANG)
        if pid == 0:
            return {"returncode": None}
        _unreaped.discard(pid)
        return {"returncode": os.waitstatus_to_exitcode(status)}
    if op == "spawn":
        pid = os.fork()
        if pid == 0:
            _run_child(request)  # never returns
        _unreaped.add(pid)
        return {"pid": pid}
    raise ValueError(f"unknown request {op!r}")


def _run_child(request: dict[str, Any]) -> None:
    code = 1
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDONLY)
        log = os.open(request["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        sys.stdin = open(os.devnull)  # noqa: SIM115 - the child's for its whole life
        os.chdir(request["cwd"])
        sys.path[0] = request["cwd"]  # python -m puts the directory it starts in first
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = [request["module"], *request["args"]]  # runpy puts the module's path first, as python -m does
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if not isinstance(e.code, int | None):
            print(e.code, file=sys.stderr)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT  # an interpreter ends itself by SIGINT then
    except BaseException:  # reported in the log, as an interpreter would
        traceback.print_exc()
    finally:
        _exit(code)


def _exit(code: int) -> None:
    """End as an interpreter does: join the threads that are not daemons, run the atexit handlers, flush."""
    with contextlib.suppress(BaseException):
        threading._shutdown()  # type: ignore[attr-defined]
    with contextlib.suppress(BaseException):
        atexit._run_exitfuncs()
    with contextlib.suppress(BaseException):
        sys.stdout.flush()
        sys.stderr.flush()
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    os._exit(code & 0xFF)


def _preload() -> None:
    for entry, names in ENTRY_MODULES.items():
        for name in names:
            __import__(name)
        package = hasattr(sys.modules.get(entry), "__path__")
        sys.modules.pop(f"{entry}.__main__" if package else entry, None)
    # Configured here, every forked worker would share this process's environment's settings.
    if "celeryconfig" in sys.modules:
        raise RuntimeError("importing the app loaded celeryconfig: a forked worker would not read its own settings")


if __name__ == "__main__":
    _preload()
    _serve(sys.stdin.buffer, sys.stdout.buffer)
