"""The grouping `make test` relies on: pytest-xdist keeps a test module, and a test class, on one worker.

Module fixtures (a trained run, a pre-trained backbone) are built once only if
every test of the module runs on the same worker; the chapters' smoke runs are
one class each so that they spread (tests/conftest.py). This runs a small
suite with the Makefile's own distribution options and checks where each test
ran, so an upgrade of pytest or pytest-xdist that breaks the grouping (as
pytest 9.2 did to ``--dist loadgroup``) fails here instead of quietly
building fixtures twice.
"""

from __future__ import annotations

import collections
import os
import subprocess
import sys
import textwrap

from tests.conftest import load_script

RECORD = textwrap.dedent(
    """
    import os
    from pathlib import Path

    def record(name):
        with open(Path(__file__).parent / "where.log", "a") as fh:
            fh.write(f"{os.environ['PYTEST_XDIST_WORKER']} {name}\\n")
    """
)


def test_modules_and_classes_each_stay_on_one_worker(tmp_path):
    timeline = load_script("benchmarks/suite_timeline.py")
    (tmp_path / "conftest.py").write_text(RECORD)
    for module in ("alpha", "beta"):
        tests = (
            "".join(f"def test_{i}():\n    record('{module}')\n\n" for i in range(4))
            + f"import pytest\n\n@pytest.mark.parametrize('x', range(3))\ndef test_p(x):\n    record('{module}')\n"
        )
        (tmp_path / f"test_{module}.py").write_text("from conftest import record\n\n" + tests)
    classes = "".join(
        f"class TestChapter{c}:\n"
        + "".join(f"    def test_{i}(self):\n        record('chapters::{c}')\n" for i in range(2))
        for c in "ABCD"
    )
    (tmp_path / "test_chapters.py").write_text("from conftest import record\n\n" + classes)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHONPATH"))}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "2",
            *timeline.make_test_dist(),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    workers = collections.defaultdict(set)
    for line in (tmp_path / "where.log").read_text().splitlines():
        worker, unit = line.split()
        workers[unit].add(worker)
    assert set(workers) == {"alpha", "beta", *(f"chapters::{c}" for c in "ABCD")}
    split = {unit: sorted(w) for unit, w in workers.items() if len(w) > 1}
    assert not split, f"tests of one module or class ran on several workers: {split}"
    assert len(set().union(*workers.values())) == 2, "the units did not spread over both workers"
