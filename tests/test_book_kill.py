"""kill -9 of the book build (book/build.py) at any point, then the same command gives the same book.

A tiny book of two chapters is built into a folder of the test's own: once
uninterrupted (the reference), then with the build SIGKILLed while the
first chapter runs and right after it is published, and at last without a
kill.  Each chapter touches ``<stem>.started`` when it runs (and records the
signal its kernel gets when papermill dies), then waits for ``<stem>.go``,
so each kill lands where it should without fixed sleeps.  Only the build's
own process is killed, as ``kill -9 PID`` does: papermill and its kernel
must die with it.  Every process the build starts inherits a variable of
the test's own, by which the test finds any that survived.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT, load_book_build

pytestmark = [
    pytest.mark.book,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="reads /proc; PR_SET_PDEATHSIG is Linux's"
    ),
]

build = load_book_build()
MARK = "EMOCIRC_BOOK_KILL_TEST"

CHAPTER = """# %% [markdown]
# # Chapter {n}

# %% tags=["parameters"]
scale = 2

# %%
import ctypes
import time
from pathlib import Path

gate = Path({gate!r})
death = ctypes.c_int(0)
ctypes.CDLL(None).prctl(2, ctypes.byref(death))  # PR_GET_PDEATHSIG: the kernel's, when papermill dies
(gate / "{stem}.pdeathsig").write_text(str(death.value))
(gate / "{stem}.started").touch()
deadline = time.monotonic() + 120
while not (gate / "{stem}.go").exists() and time.monotonic() < deadline:
    time.sleep(0.02)
print([i * scale for i in range({n} + 3)])

# %%
{{"chapter": {n}, "sum": sum(range(10)) * scale}}
"""
STEMS = ["01_first", "02_second"]


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Iterator[dict]:
    """The chapters, their gate folder and an uninterrupted build's notebooks."""
    base = tmp_path_factory.mktemp("book-kill")
    notebooks, gate = base / "notebooks", base / "gate"
    notebooks.mkdir(), gate.mkdir()
    for n, stem in enumerate(STEMS, start=1):
        (notebooks / f"{stem}.py").write_text(CHAPTER.format(n=n, stem=stem, gate=str(gate)))
    context = {"notebooks": notebooks, "gate": gate, "mark": secrets.token_hex(8)}
    open_gates(gate, *STEMS)
    reference = base / "reference"
    build.execute_all(None, 300, notebooks_dir=notebooks, executed_dir=reference)
    yield {**context, "reference": reference}
    for line in survivors(context["mark"]):  # a failed test leaves no orphan behind
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(line.split(":")[0]), signal.SIGKILL)


def open_gates(gate: Path, *stems: str) -> None:
    for path in gate.iterdir():
        path.unlink()
    for stem in stems:
        (gate / f"{stem}.go").touch()


def start(book: dict, executed: Path) -> subprocess.Popen:
    cmd = [
        sys.executable, str(ROOT / "book" / "build.py"), "--notebooks", str(book["notebooks"]),
        "--executed", str(executed), "--no-html", "--timeout", "300",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", MARK: book["mark"]}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return out


def kill_when(proc: subprocess.Popen, ready, mark: str, timeout: float = 300) -> list[str]:
    """SIGKILL the build's own process (not its children) as soon as ``ready()`` holds.

    Returns the command lines of the other processes of the build alive just before.
    """
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"the build ended before it could be killed: {proc.communicate()}"
        assert time.monotonic() < deadline, "the build did not get there in time"
        time.sleep(0.01)
    children = [line for line in survivors(mark) if not line.startswith(f"{proc.pid}:")]
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    return children


def survivors(mark: str) -> list[str]:
    """Command lines of the live processes (not zombies) that carry ``MARK=mark`` in their environment."""
    needle = f"{MARK}={mark}".encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if state != "Z" and needle in (proc / "environ").read_bytes().split(b"\0"):
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                found.append(f"{proc.name}: {cmdline}")
        except (OSError, IndexError):
            continue  # gone meanwhile, or not ours to read
    return found


def assert_no_survivor(mark: str, grace: float = 3.0) -> None:
    """No process of the killed build is alive after ``grace`` seconds (SIGKILL reaches them at once)."""
    deadline = time.monotonic() + grace
    while (alive := survivors(mark)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive, f"processes of the killed build survived it: {alive}"


def published(executed: Path) -> dict[str, bytes]:
    """The executed notebooks as a reader of the folder sees them; each must be complete."""
    found = {}
    for path in sorted(executed.iterdir()) if executed.is_dir() else []:
        if path.name.startswith("."):
            continue  # a build's temporaries: never read, swept by the next build
        assert path.suffix == ".ipynb" and path.stem in STEMS, f"unexpected {path.name} in {executed}"
        nb = json.loads(path.read_text())  # complete JSON, or this raises
        assert nb["metadata"].get(build.HASH_KEY), f"{path.name} has no build hash"
        found[path.stem] = path.read_bytes()
    return found


def outputs(data: bytes) -> list:
    """What a reader of the notebook sees (cells and outputs) and the hash that decides reuse."""
    nb = json.loads(data)
    cells = [(c["cell_type"], c["source"], c.get("outputs")) for c in nb["cells"]]
    return [nb["metadata"][build.HASH_KEY], *cells]


def test_killed_at_any_point_then_the_same_command_gives_the_same_book(book, tmp_path):
    reference = {stem: outputs(data) for stem, data in published(book["reference"]).items()}
    assert list(reference) == STEMS
    assert "[0, 2, 4, 6]" in json.dumps(reference["01_first"])  # the chapters did run
    gate, mark, executed = book["gate"], book["mark"], tmp_path / "executed"

    # A stale notebook of chapter 1 (another hash): the build re-executes it.
    executed.mkdir()
    stale = json.loads(published(book["reference"])["01_first"])
    stale["metadata"][build.HASH_KEY] = "stale"
    (executed / "01_first.ipynb").write_text(json.dumps(stale))
    previous = published(executed)

    # 1. Killed while chapter 1 runs: the previous chapter 1 is left as it was.
    open_gates(gate)
    proc = start(book, executed)
    children = kill_when(proc, (gate / "01_first.started").exists, mark)
    assert any("papermill" in c for c in children) and any("ipykernel" in c for c in children), children
    assert (gate / "01_first.pdeathsig").read_text() == str(int(signal.SIGKILL))
    assert_no_survivor(mark)
    assert published(executed) == previous
    assert any(p.name.startswith(".") for p in executed.iterdir()), "the temporaries are not in --executed"

    # 2. Killed right after chapter 1 is published, before chapter 2 can end.
    open_gates(gate, "01_first")
    proc = start(book, executed)
    kill_when(proc, lambda: published(executed) != previous, mark)
    assert_no_survivor(mark)
    after_first = published(executed)
    assert list(after_first) == ["01_first"] and outputs(after_first["01_first"]) == reference["01_first"]

    # 3. The same command, uninterrupted: the reference book, and no temporary left.
    open_gates(gate, *STEMS)
    out = finish(start(book, executed))
    assert "01_first.py: unchanged" in out and "02_second.py: executing" in out
    assert {stem: outputs(data) for stem, data in published(executed).items()} == reference
    assert sorted(p.name for p in executed.iterdir()) == [f"{stem}.ipynb" for stem in STEMS]


def test_a_build_sweeps_only_the_temporaries_of_dead_builds(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone = tmp_path / f"{build.TMP_PREFIX}{dead.pid}-abcd"
    mine = tmp_path / f"{build.TMP_PREFIX}{os.getpid()}-abcd"
    other = tmp_path / f"{build.TMP_PREFIX}1-abcd"  # init never dies
    for folder in (gone, mine, other):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "x.ipynb").write_text("{")
    assert build.sweep(tmp_path) == [gone]
    assert not gone.exists() and mine.is_dir() and other.is_dir()
    shutil.rmtree(mine)


def test_executing_elsewhere_than_book_executed_needs_no_html(tmp_path, capsys):
    assert build.main(["--executed", str(tmp_path), "--notebooks", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--executed {tmp_path}" in err and "--no-html" in err
    assert build.main(["--notebooks", str(tmp_path / "missing"), "--no-html"]) == 1
    assert f"--notebooks {tmp_path / 'missing'}: no such folder" in capsys.readouterr().err
