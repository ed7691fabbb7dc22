"""Command lines in new processes that start with torch and transformers already imported.

Tests of what a process leaves behind when it is killed, resumed or run
twice at once (tests/test_crashes.py, the SIGKILL tests, concurrent
builders) need real processes, but not a new interpreter each: starting one
and importing torch and transformers costs about 8 s of CPU, more than most
of these runs compute.  :func:`python` starts them from a
:mod:`multiprocessing` fork server that imported :data:`PRELOAD` once (one
server per test process, started on first use).  Each child is a new
process (its own pid, session if asked, exit status, files), and before it
runs the command it takes the environment, working directory and thread
count the command line gives it, so it computes exactly what
``python -m ...`` would.

What it is not: a test of starting the interpreter.  Tests of that (the
command line's own start, its imports, ``HF_HOME`` read when
``huggingface_hub`` is imported, the peak memory of a fresh process) keep
``subprocess`` and ``sys.executable``.

    proc = python(["-m", "emocirc", "extract", ...], env=env, new_session=True)
    out, err = proc.communicate(timeout=600)
"""

from __future__ import annotations

import atexit
import itertools
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

#: Imported once by the fork server: what every command here imports anyway.
PRELOAD = [
    "torch",
    "transformers.models.wav2vec2.modeling_wav2vec2",
    "emocirc.cli",
    "emocirc.backbones",
    "emocirc.features",
    "emocirc.finetune",
    "emocirc.pretrain",
]

#: Variables the preloaded modules read when imported (huggingface_hub's constants,
#: transformers' logging): a child whose environment sets them otherwise than the
#: server's would not behave as a fresh process, so it stops instead.
READ_AT_IMPORT = (
    "HF_HOME", "HF_HUB_CACHE", "HF_HUB_OFFLINE", "HF_ENDPOINT", "HF_HUB_DISABLE_TELEMETRY",
    "TRANSFORMERS_OFFLINE", "TRANSFORMERS_CACHE", "TRANSFORMERS_VERBOSITY", "MKL_NUM_THREADS",
)  # fmt: skip

_context = None
_logs: Path | None = None  # this process's folder of the children's output, removed at exit
_count = itertools.count()
_server_env: dict[str, str] = {}  # what the server imported with: this process's, when it started it


def _watched(env) -> dict[str, str]:
    return {
        k: v for k, v in env.items() if k in READ_AT_IMPORT or k.startswith("TORCH") or k == "OMP_NUM_THREADS"
    }


def _fork_server():
    global _context, _server_env
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
        _server_env = _watched(os.environ)  # the server starts with this environment (on first use)
    return _context


def _child(
    args: list[str],
    env: dict[str, str],
    server_env: dict[str, str],
    cwd: str,
    out: str,
    err: str,
    new_session: bool,
) -> None:
    """In the new process: become ``python ARGS`` (``-m module`` or ``-c code``) and run it."""
    import runpy

    if new_session:
        os.setsid()
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    given = _watched(env)
    differ = sorted(
        k for k in {*given, *server_env} - {"OMP_NUM_THREADS"} if given.get(k) != server_env.get(k)
    )
    if "OMP_NUM_THREADS" in server_env and "OMP_NUM_THREADS" not in given:
        differ.append("OMP_NUM_THREADS")  # torch's thread count is set below only when given
    if differ:
        raise RuntimeError(
            f"tests/preloaded.py: {', '.join(differ)} must be as when the fork server imported "
            f"{', '.join(PRELOAD)}; run this command with subprocess instead"
        )
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.path[:0] = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if env.get("OMP_NUM_THREADS"):  # read by torch when imported, which the server did
        import torch

        torch.set_num_threads(int(env["OMP_NUM_THREADS"]))
    flag, target, *rest = args
    if flag == "-m":
        sys.argv = [target, *rest]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
    elif flag == "-c":
        sys.argv = ["-c", *rest]
        exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
    else:
        raise ValueError(f"python(): expected -m MODULE or -c CODE first, got {flag!r}")


class Preloaded:
    """The running child, with the part of :class:`subprocess.Popen`'s interface the tests use."""

    def __init__(self, process, out: Path, err: Path, text: bool):
        self._process, self._out, self._err, self._text = process, out, err, text
        self.pid = process.pid

    @property
    def returncode(self) -> int | None:
        return self._process.exitcode  # minus the signal's number when one ended it, as Popen's

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self.returncode is None:
            raise TimeoutError(f"process {self.pid} still running after {timeout} s")
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str | bytes, str | bytes]:
        self.wait(timeout)
        read = (lambda p: p.read_text()) if self._text else (lambda p: p.read_bytes())
        return read(self._out), read(self._err)


def python(
    args: list[str],
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    new_session: bool = False,
    text: bool = True,
) -> Preloaded:
    """Start ``python ARGS`` (``-m module ...`` or ``-c code ...``) in a preloaded new process.

    Its standard output and error go to files, read by ``communicate()``
    once it ended (so neither can fill a pipe).
    """
    global _logs
    if _logs is None:
        _logs = Path(tempfile.mkdtemp(prefix="preloaded-"))
        atexit.register(shutil.rmtree, _logs, True)
    n = next(_count)
    out, err = _logs / f"{n}.stdout", _logs / f"{n}.stderr"
    process = _fork_server().Process(
        target=_child,
        args=(list(args), dict(os.environ if env is None else env), _server_env, str(cwd or os.getcwd()),
              str(out), str(err), new_session),
        daemon=False,
    )  # fmt: skip
    process.start()
    return Preloaded(process, out, err, text)


def run(args: list[str], timeout: float = 600, **options) -> tuple[int, str, str]:
    """:func:`python` to the end: ``(exit status, stdout, stderr)``; killed if it runs past ``timeout``."""
    proc = python(args, **options)
    try:
        out, err = proc.communicate(timeout=timeout)
    except TimeoutError:
        os.kill(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, out, err
