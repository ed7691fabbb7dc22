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
   within a per-notebook time limit, writing the result atomically;
3. builds the HTML with ``jupyter-book build -W -n --keep-going`` (execution
   off: papermill's outputs are published as they are) and prints the path
   of ``index.html``.

Any failure prints one line naming the notebook (or the build) and exits 1.

Run ``python book/build.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "book" / "executed"
SHARED_SECTION = "shared"
HASH_KEY = "emocirc_build_hash"


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


def execute(
    source: Path, output: Path, params: dict, timeout: float, key: str = "", cwd: Path = ROOT
) -> float:
    """Execute one chapter with papermill into ``output`` (atomically); return the seconds taken.

    ``key`` is stored in the notebook's metadata for :func:`execute_all` to reuse it.
    """
    import nbformat

    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="emocirc-book-") as tmp:
        tmp_in = Path(tmp) / f"{source.stem}.ipynb"
        tmp_out = Path(tmp) / f"{source.stem}.out.ipynb"
        tmp_params = Path(tmp) / "params.json"
        nbformat.write(read_notebook(source), tmp_in)
        tmp_params.write_text(json.dumps(params))
        cmd = [
            sys.executable, "-m", "papermill", str(tmp_in), str(tmp_out),
            "-f", str(tmp_params), "-k", "python3", "--cwd", str(cwd), "--no-progress-bar",
        ]  # fmt: skip
        start = time.monotonic()
        try:
            # Figures must land in the notebook as PNGs, whatever backend the caller set.
            env = {**os.environ, "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
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
        staged = output.with_name(f".{output.name}.tmp")
        nbformat.write(nb, staged)
        os.replace(staged, output)
    return seconds


def _papermill_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if line.startswith("Exception encountered at"):
            # The cell's exception is the last line of papermill's report.
            tail = [x for x in lines[i:] if not x.startswith(("---", "Cell In", "File "))]
            return f"{line} {tail[-1]}" if tail else line
    return lines[-1] if lines else "papermill failed without a message"


def execute_all(params_file: Path | None, timeout: float, only: list[str] | None = None) -> list[Path]:
    """Execute (or reuse) every chapter; return the executed notebooks."""
    notebooks = discover()
    if not notebooks:
        raise BuildError(f"no notebooks found in {NOTEBOOKS}")
    overrides = load_params(params_file, notebooks)
    package = package_digest()
    done = []
    for source in notebooks:
        if only and source.stem not in only:
            continue
        params = overrides[source.stem]
        key = build_hash(source, params, package)
        output = EXECUTED / f"{source.stem}.ipynb"
        if executed_hash(output) == key:
            print(f"[book] {source.name}: unchanged, reusing {output.relative_to(ROOT)}", flush=True)
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
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jupyter_book), "build", str(root), "-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
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
    args = parser.parse_args(argv)
    try:
        execute_all(args.params, args.timeout, args.only)
        if not args.no_html:
            index = build_html()
            print(f"[book] built {index}")
    except BuildError as err:
        print(f"book: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
