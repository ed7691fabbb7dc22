"""Where the test suite's time goes: each worker's timeline and the worker-seconds of each module.

Runs the suite as ``make test`` does (``-n auto`` and the Makefile's
``TEST_DIST``), with this file loaded as a pytest plugin that records when
each worker finished collecting and when each test started and ended, then
prints, per worker, when it collected and when it ran out of work, and the
modules (each chapter apart) by the worker-seconds they took. That is the
table of benchmarks/README.md, "Test time".

    .venv/bin/python benchmarks/suite_timeline.py              # the whole suite
    .venv/bin/python benchmarks/suite_timeline.py --top 30 -- tests/test_finetune.py

Run it on a quiet machine; on a fresh clone, the first run also pays for
compiling the bytecode (``PYTHONPYCACHEPREFIX``, set by the Makefile, is set
here too).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_OUT = "EMOCIRC_TIMELINE_DIR"
_DISTRIBUTED = "EMOCIRC_TIMELINE_XDIST"


# ----------------------------------------------------------------------------- the plugin (in each worker)
def _record(**row) -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not os.environ.get(_OUT) or (worker is None and os.environ.get(_DISTRIBUTED)):
        return  # not run by main(), or the xdist controller, which hears every worker's tests again
    with open(Path(os.environ[_OUT]) / f"{worker or 'main'}.jsonl", "a") as fh:
        fh.write(json.dumps({**row, "t": time.time()}) + "\n")


def pytest_collection_finish(session) -> None:
    _record(event="collected")


def pytest_runtest_logstart(nodeid, location):
    _record(event="start", id=nodeid)


def pytest_runtest_logfinish(nodeid, location):
    _record(event="end", id=nodeid)


# ----------------------------------------------------------------------------- the report
def make_test_dist() -> list[str]:
    """The pytest-xdist options ``make test`` passes (the Makefile's ``TEST_DIST``)."""
    dist = re.search(r"^TEST_DIST := (.+)$", (ROOT / "Makefile").read_text(), re.M)
    if not dist:
        raise SystemExit("Makefile: no TEST_DIST line, expected the distribution options of make test")
    return shlex.split(dist.group(1))


def unit(nodeid: str) -> str:
    """A test's module, or its class for the chapters' smoke runs (one class per chapter)."""
    parts = nodeid.split("::")
    return "::".join(parts[:2]) if parts[1:] and parts[1].startswith("TestChapter_") else parts[0]


def report(folder: Path, started: float, top: int) -> str:
    lines, per_unit = [], collections.Counter()
    for path in sorted(folder.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        collected = next((r["t"] for r in rows if r["event"] == "collected"), started)
        starts = {r["id"]: r["t"] for r in rows if r["event"] == "start"}
        spans = [
            (starts[r["id"]], r["t"], r["id"]) for r in rows if r["event"] == "end" and r["id"] in starts
        ]
        busy = sum(end - start for start, end, _ in spans)
        last = max((end for _, end, _ in spans), default=collected)
        lines.append(
            f"{path.stem}: collected at {collected - started:.0f} s, out of work at {last - started:.0f} s, "
            f"busy {busy:.0f} s over {len(spans)} tests"
        )
        for start, end, nodeid in spans:
            per_unit[unit(nodeid)] += end - start
    total = sum(per_unit.values())
    lines.append(f"\nworker-seconds by module ({total:.0f} in all):")
    lines += [f"{seconds:7.1f}  {name}" for name, seconds in per_unit.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--top", type=int, default=16, help="modules listed (default 16)")
    parser.add_argument("--workers", default="auto", help="pytest -n (default auto, as make test)")
    parser.add_argument("pytest_args", nargs="*", help="after --: passed on to pytest")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, _OUT: tmp, "PYTHONPATH": str(ROOT / "benchmarks")}
        if args.workers != "0":
            env[_DISTRIBUTED] = "1"
        env.setdefault("PYTHONPYCACHEPREFIX", str(ROOT / ".venv" / "pycache"))
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        command = [sys.executable, "-m", "pytest", "-p", "suite_timeline", "-q"]
        command += ["-n", args.workers, *make_test_dist(), *args.pytest_args]
        started = time.time()
        code = subprocess.run(command, cwd=ROOT, env=env).returncode
        print(f"\npytest exited {code} after {time.time() - started:.0f} s\n")
        print(report(Path(tmp), started, args.top))
    return code


if __name__ == "__main__":
    sys.exit(main())
