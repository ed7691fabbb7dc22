"""Execute every chapter with papermill, then publish the book with Jupyter Book 1.

``make book`` runs this script.  For each ``notebooks/NN_name.py`` (Jupytext
percent format with a cell tagged ``parameters``) it

1. merges the notebook's parameters from an optional YAML file (``--params``:
   a section per notebook stem, plus an optional ``shared`` section whose
   keys go to every notebook that declares them) and rejects any name that
   the notebook does not declare;
2. skips the notebook when ``book/executed/NN_name.ipynb`` was produced from
   the same source, parameters and package code (a hash kept in the
   notebook's metadata); otherwise converts it with Jupytext (kernel
   ``python3``) and executes it with papermill from the repository root,
   within a per-notebook time limit;
3. builds the HTML with ``jupyter-book build -W -n --keep-going`` (execution
   off: papermill's outputs are published as they are) and prints the path
   of ``index.html``.

Any failure prints one line naming the notebook (or the build) and exits 1.

A build killed at any point (``kill -9`` included) leaves each executed
notebook complete, the previous one or the new one, and the same command
then gives the same result.  Everything a build writes while it runs (the
converted input, papermill's output, a kernel spec) lies in a folder of its
own, ``book/executed/.tmp-<pid>-<random>/``; a notebook that succeeded is
fsync'ed there and renamed into place, and a later build removes the folders
whose process is gone.  On Linux, papermill, its Jupyter kernel and Jupyter
Book ask the system for SIGKILL when their parent dies (``PR_SET_PDEATHSIG``),
so no orphan keeps executing a chapter or writing after the build is killed.

Run ``python book/build.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from emocirc._io import fsync_dir, fsync_file

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "book" / "executed"
SHARED_SECTION = "shared"
HASH_KEY = "emocirc_build_hash"
TMP_PREFIX = ".tmp-"
KERNEL_NAME = "emocirc-book-python3"
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# The kernel papermill starts: ipykernel, which first asks Linux for SIGKILL
# when papermill (its parent) dies, and exits if papermill is already gone.
KERNEL_LAUNCHER = """\
import os, signal, sys
if sys.path and sys.path[0] == "":
    del sys.path[0]  # as ipykernel_launcher: the working folder is not an import root
if sys.platform.startswith("linux"):
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    if str(os.getppid()) != os.environ.get("JPY_PARENT_PID", str(os.getppid())):
        os._exit(1)
from ipykernel import kernelapp
kernelapp.launch_new_instance()
"""


# nbformat validates notebooks with jsonschema, which compiles rfc3987_syntax's
# Lark grammar for IRI checks when that package is installed (jupyter-events pulls
# it in): 3 s of CPU at import, in every process that reads a notebook.  The
# notebook schema checks no IRI, so papermill and Jupyter Book run without it
# (jsonschema skips a format checker whose package does not import).
_WITHOUT_IRI_GRAMMAR = "import sys; sys.modules['rfc3987_syntax'] = None; "
PAPERMILL_MAIN = (
    _WITHOUT_IRI_GRAMMAR + "from papermill.cli import papermill; sys.argv[0] = 'papermill'; papermill()"
)
JUPYTER_BOOK_MAIN = (
    _WITHOUT_IRI_GRAMMAR
    + "from jupyter_book.cli.main import main; sys.argv[0] = 'jupyter-book'; sys.exit(main())"
)


class BuildError(Exception):
    """A failure of the book build, with a one-line message naming what failed."""


def discover(notebooks_dir: Path = NOTEBOOKS) -> list[Path]:
    """The chapter sources, in book order (file-name order)."""
    return sorted(p for p in notebooks_dir.glob("[0-9]*.py") if p.is_file())


def read_notebook(path: Path):
    """Read a Jupytext percent-format file as a notebook with the ``python3`` kernel."""
    import jupytext

    nb = jupytext.read(path, fmt="py:percent")
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata.pop("jupytext", None)
    return nb


def declared_parameters(path: Path) -> dict[str, str]:
    """Names and default source text assigned in the notebook's ``parameters`` cell.

    Raises :class:`BuildError` when the notebook has no such cell.
    """
    nb = read_notebook(path)
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            names: dict[str, str] = {}
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else []
                if isinstance(node, ast.AnnAssign):
                    targets = [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = ast.get_source_segment(cell.source, node.value) or ""
            return names
    raise BuildError(f"{path.name}: no code cell tagged 'parameters'")


def load_params(params_file: Path | None, notebooks: list[Path]) -> dict[str, dict]:
    """Per-notebook parameter overrides from a YAML file, validated against the notebooks.

    Unknown sections and parameter names are errors that name the notebook and
    the parameter; a ``shared`` key goes to every notebook that declares it and
    must be declared by at least one.
    """
    overrides: dict[str, dict] = {p.stem: {} for p in notebooks}
    if params_file is None:
        return overrides
    import yaml

    try:
        data = yaml.safe_load(Path(params_file).read_text()) or {}
    except FileNotFoundError as err:
        raise BuildError(f"{params_file}: parameters file not found") from err
    except yaml.YAMLError as err:
        raise BuildError(f"{params_file}: not valid YAML ({str(err).splitlines()[0]})") from err
    if not isinstance(data, dict):
        raise BuildError(f"{params_file}: expected a mapping of notebook names to parameters")
    declared = {p.stem: declared_parameters(p) for p in notebooks}
    shared = data.pop(SHARED_SECTION, None) or {}
    for section, values in data.items():
        if section not in declared:
            known = ", ".join([SHARED_SECTION, *declared])
            raise BuildError(f"{params_file}: unknown section {section!r}; expected one of {known}")
        if not isinstance(values, dict):
            raise BuildError(f"{params_file}: section {section!r} must be a mapping of parameter names")
        for name, value in values.items():
            if name not in declared[section]:
                raise BuildError(
                    f"{section}.py: unknown parameter {name!r} in {params_file}; "
                    f"the notebook declares {', '.join(declared[section]) or 'none'}"
                )
            overrides[section][name] = value
    for name, value in shared.items():
        takers = [stem for stem, names in declared.items() if name in names]
        if not takers:
            raise BuildError(f"{params_file}: shared parameter {name!r} is declared by no notebook")
        for stem in takers:
            overrides[stem].setdefault(name, value)
    return overrides


def package_digest() -> str:
    """A hash of the package's source, so that a code change re-executes the chapters."""
    digest = hashlib.sha256()
    for path in sorted((ROOT / "emocirc").rglob("*")):
        if path.is_file() and path.suffix in {".py", ".json", ".csv", ".txt", ".tsv"}:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def build_hash(source: Path, params: dict, package: str) -> str:
    """The key under which an executed notebook is reused."""
    digest = hashlib.sha256()
    digest.update(source.read_bytes())
    digest.update(json.dumps(params, sort_keys=True, default=str).encode())
    digest.update(package.encode())
    return digest.hexdigest()


def executed_hash(path: Path) -> str | None:
    """The build hash stored in an executed notebook, or None."""
    try:
        return json.loads(path.read_text()).get("metadata", {}).get(HASH_KEY)
    except (OSError, ValueError):
        return None


def _die_with_parent(parent: int):
    """A ``preexec_fn``: the child gets SIGKILL when ``parent`` dies (Linux; elsewhere None)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl  # loaded before the fork, called after it

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request
            os._exit(1)

    return preexec


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid() or os.name != "posix":
        return True  # elsewhere os.kill(pid, 0) would end the process: keep its folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process: keep its folder
    return True


def sweep(folder: Path) -> list[Path]:
    """Remove the temporary folders of builds into ``folder`` whose process is gone; return them."""
    removed = []
    for tmp in folder.glob(f"{TMP_PREFIX}*") if folder.is_dir() else []:
        pid = tmp.name[len(TMP_PREFIX) :].split("-")[0]
        if tmp.is_dir() and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)
            removed.append(tmp)
    return removed


def _build_folder(parent: Path) -> Path:
    """A new, empty temporary folder of this process in ``parent``."""
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = parent / f"{TMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue


def _write_kernel_spec(tmp: Path) -> Path:
    """A Jupyter data folder in ``tmp`` with the kernel :data:`KERNEL_NAME` (this interpreter)."""
    spec = tmp / "jupyter" / "kernels" / KERNEL_NAME
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", KERNEL_LAUNCHER, "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Python 3", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel, indent=1))
    return tmp / "jupyter"


def _display(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def execute(
    source: Path, output: Path, params: dict, timeout: float, key: str = "", cwd: Path = ROOT
) -> float:
    """Execute one chapter with papermill into ``output`` (atomically); return the seconds taken.

    ``key`` is stored in the notebook's metadata for :func:`execute_all` to reuse it.
    Every temporary file lies in a folder of this process beside ``output``
    (see :func:`sweep`); ``output`` is replaced, fsync'ed, only when the
    notebook ran without an error, so it is always the previous complete
    notebook or the new complete one.
    """
    import nbformat

    tmp = _build_folder(output.parent)
    try:
        tmp_in = tmp / f"{source.stem}.ipynb"
        tmp_out = tmp / f"{source.stem}.out.ipynb"
        tmp_params = tmp / "params.json"
        nb = read_notebook(source)
        kernelspec = nb.metadata["kernelspec"]
        nbformat.write(nb, tmp_in)
        tmp_params.write_text(json.dumps(params))
        jupyter_path = [str(_write_kernel_spec(tmp)), os.environ.get("JUPYTER_PATH", "")]
        cmd = [
            sys.executable, "-c", PAPERMILL_MAIN, str(tmp_in), str(tmp_out),
            "-f", str(tmp_params), "-k", KERNEL_NAME, "--cwd", str(cwd), "--no-progress-bar",
        ]  # fmt: skip
        # Figures must land in the notebook as PNGs, whatever backend the caller set.
        env = {
            **os.environ,
            "MPLBACKEND": "module://matplotlib_inline.backend_inline",
            "JUPYTER_PATH": os.pathsep.join(p for p in jupyter_path if p),
        }
        start = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=timeout,
                env=env,
                preexec_fn=_die_with_parent(os.getpid()),
            )
        except subprocess.TimeoutExpired as err:
            raise BuildError(f"{source.name}: did not finish within {timeout:.0f} s") from err
        seconds = time.monotonic() - start
        if proc.returncode != 0:
            raise BuildError(f"{source.name}: {_papermill_error(proc.stderr)}")
        nb = nbformat.read(tmp_out, as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]  # fmt: skip
        if errors:
            raise BuildError(
                f"{source.name}: a cell raised {errors[0].get('ename')}: {errors[0].get('evalue')}"
            )
        nb.metadata[HASH_KEY] = key
        nb.metadata["kernelspec"] = kernelspec
        if "papermill" in nb.metadata:  # where the notebook came from, not the temporaries
            nb.metadata.papermill["input_path"] = _display(source)
            nb.metadata.papermill["output_path"] = _display(output)
        staged = tmp / f"{output.stem}.done.ipynb"
        nbformat.write(nb, staged)
        fsync_file(staged)
        os.replace(staged, output)
        fsync_dir(output.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return seconds


def _papermill_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("Exception encountered at"):
            # The cell's exception is the last line of papermill's report.
            tail = [x for x in lines[i:] if not x.startswith(("---", "Cell In", "File "))]
            return f"{line} {tail[-1]}" if tail else line
    return lines[-1] if lines else "papermill failed without a message"


def execute_all(
    params_file: Path | None,
    timeout: float,
    only: list[str] | None = None,
    notebooks_dir: Path = NOTEBOOKS,
    executed_dir: Path = EXECUTED,
) -> list[Path]:
    """Execute (or reuse) every chapter of ``notebooks_dir`` into ``executed_dir``; return them."""
    notebooks = discover(notebooks_dir)
    if not notebooks:
        raise BuildError(f"no notebooks found in {notebooks_dir}")
    overrides = load_params(params_file, notebooks)
    package = package_digest()
    sweep(executed_dir)
    done = []
    for source in notebooks:
        if only and source.stem not in only:
            continue
        params = overrides[source.stem]
        key = build_hash(source, params, package)
        output = executed_dir / f"{source.stem}.ipynb"
        if executed_hash(output) == key:
            print(f"[book] {source.name}: unchanged, reusing {_display(output)}", flush=True)
        else:
            print(
                f"[book] {source.name}: executing with {json.dumps(params) if params else 'defaults'}",
                flush=True,
            )
            seconds = execute(source, output, params, timeout, key)
            print(f"[book] {source.name}: done in {seconds:.0f} s", flush=True)
        done.append(output)
    return done


def build_html(root: Path = ROOT) -> Path:
    """Run Jupyter Book over the executed notebooks in ``root``; return the path of index.html."""
    cmd = [sys.executable, "-c", JUPYTER_BOOK_MAIN, "build", str(root), "-W", "-n", "--keep-going"]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=root,
        preexec_fn=_die_with_parent(os.getpid()),
    )
    log = proc.stdout + proc.stderr
    warnings = [line for line in log.splitlines() if "WARNING" in line or "ERROR" in line]
    if proc.returncode != 0 or warnings:
        sys.stderr.write(log[-6000:])
        first = warnings[0] if warnings else log.strip().splitlines()[-1]
        raise BuildError(f"jupyter-book build failed: {first.strip()}")
    index = root / "_build" / "html" / "index.html"
    if not index.exists():
        raise BuildError(f"jupyter-book build wrote no {index}")
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--params", type=Path, help="YAML file: a section per notebook stem and 'shared'")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds allowed per notebook")
    parser.add_argument("--only", nargs="*", help="execute only these notebook stems")
    parser.add_argument("--no-html", action="store_true", help="execute the notebooks, skip Jupyter Book")
    parser.add_argument(
        "--notebooks", type=Path, default=NOTEBOOKS, help="folder of the chapters (default: notebooks/)"
    )
    parser.add_argument(
        "--executed",
        type=Path,
        default=EXECUTED,
        help="folder of the executed notebooks (default: book/executed/; another one needs --no-html)",
    )
    args = parser.parse_args(argv)
    try:
        if not args.no_html and args.executed.resolve() != EXECUTED.resolve():
            raise BuildError(
                f"--executed {args.executed}: the book's _toc.yml reads {_display(EXECUTED)}; "
                "add --no-html to execute elsewhere"
            )
        if not args.notebooks.is_dir():
            raise BuildError(f"--notebooks {args.notebooks}: no such folder")
        execute_all(args.params, args.timeout, args.only, args.notebooks, args.executed)
        if not args.no_html:
            index = build_html()
            print(f"[book] built {index}")
    except BuildError as err:
        print(f"book: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
