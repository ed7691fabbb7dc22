"""pyproject.toml and environment.yml list the same dependencies."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parent.parent

# conda-forge names that differ from PyPI's.
CONDA_TO_PYPI = {"pysoundfile": "soundfile", "soxr-python": "soxr"}
# Installed by the conda environment itself, not a dependency of the package.
CONDA_ONLY = {"python", "pip"}
# Extras that environment.yml deliberately leaves out (installed on demand;
# egemaps's openSMILE is under a research-only licence).
OPTIONAL_EXTRAS_NOT_IN_ENV = {"lab", "egemaps"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^\s*([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", requirement)
    assert match, requirement
    return match.group(1).lower().replace("_", "-"), match.group(3).replace(" ", "")


def pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra, items in project["optional-dependencies"].items():
        if extra not in OPTIONAL_EXTRAS_NOT_IN_ENV:
            reqs.extend(items)
    return dict(_split(r) for r in reqs)


def environment_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    found: dict[str, str] = {}
    for item in env["dependencies"]:
        if isinstance(item, dict):
            for pip_req in item["pip"]:
                if not pip_req.startswith("-e"):
                    name, spec = _split(pip_req)
                    found[name] = spec
            continue
        name, spec = _split(item)
        if name not in CONDA_ONLY:
            found[CONDA_TO_PYPI.get(name, name)] = spec
    return found


def test_environment_lists_exactly_the_pyproject_dependencies():
    assert environment_requirements() == pyproject_requirements()


def test_environment_installs_the_project_with_the_book_extra():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert "-e .[book]" in pip_section


def test_torch_is_pinned_exactly():
    # A range would make pip fetch a multi-GB CUDA build instead of the CPU wheel on disk.
    assert pyproject_requirements()["torch"].startswith("==")
