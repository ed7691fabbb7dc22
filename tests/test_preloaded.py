"""tests/preloaded.py: each command is a new process with the environment, directory and exit status it asks for."""

from __future__ import annotations

import os
import signal
import time

from tests.preloaded import python, run

CHILD = """
import os, sys, torch
print(os.environ["EMOCIRC_PROBE"], os.getcwd(), torch.get_num_threads(), sys.argv[1:], os.getpid())
print("to stderr", file=sys.stderr)
raise SystemExit(3)
"""


def test_a_child_takes_its_environment_directory_threads_and_exit_status(tmp_path):
    env = {**os.environ, "EMOCIRC_PROBE": "probe", "OMP_NUM_THREADS": "2"}
    code, out, err = run(["-c", CHILD, "a", "b"], env=env, cwd=tmp_path, timeout=120)
    probe, cwd, threads, argv, pid = out.split(maxsplit=4)
    assert (code, probe, cwd, threads, argv) == (3, "probe", str(tmp_path), "2", "['a',")
    assert int(pid.split()[-1]) != os.getpid() and err.strip() == "to stderr"
    code, out, _ = run(["-m", "emocirc", "--help"], timeout=120)
    assert code == 0 and "usage" in out


def test_sigkill_of_its_session_ends_it_with_the_signal(tmp_path):
    started = tmp_path / "started"
    code = f"import os, time; open({str(started)!r}, 'w').write(str(os.getsid(0))); time.sleep(60)"
    proc = python(["-c", code], new_session=True)
    deadline = time.monotonic() + 60
    while not (started.exists() and started.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    assert int(started.read_text()) == proc.pid  # the leader of a session of its own
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def test_a_variable_read_at_import_that_differs_is_refused(tmp_path):
    code, _, err = run(["-c", "print('ran')"], env={**os.environ, "HF_HOME": str(tmp_path)}, timeout=120)
    assert code == 1 and "HF_HOME must be as when the fork server imported" in err
