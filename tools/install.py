"""Install the project into a virtual environment: with uv where it can be used, else with pip.

``make setup`` runs ``python tools/install.py .venv '.[book,test,hf]'``. uv
installs the same resolution as pip about five times faster (a fresh
environment here: 46 s with pip, 9 s with uv, benchmarks/README.md "Test
time"), but it does not read pip's configuration, so the settings pip would
use (``pip config list``: index URLs, find-links, constraints, certificate,
timeout) are passed on to it as options. A pip setting with no translation
below, ``EMOCIRC_INSTALLER=pip``, or a uv that cannot be installed, makes the
install pip's alone, with a line saying why: nothing a user configured for
pip is dropped silently.
"""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
from pathlib import Path

# pip's sections, lowest precedence first (pip install reads global, then install, then the environment).
SECTIONS = ("global", "install", ":env:")
# pip settings that take one or more whitespace-separated values, and uv's option for each.
MULTI = {
    "extra-index-url": "--extra-index-url",
    "find-links": "--find-links",
    "constraint": "--constraint",
    "trusted-host": "--allow-insecure-host",
}
SINGLE = {"index-url": "--index-url"}
FLAGS = {"no-index": "--no-index", "no-cache-dir": "--no-cache", "pre": "--prerelease=allow"}
# Settings that change nothing uv resolves or installs.
HARMLESS = {
    "disable-pip-version-check",
    "quiet",
    "verbose",
    "progress-bar",
    "root-user-action",
    "require-virtualenv",
    "no-input",
    "no-color",
    "break-system-packages",
}
# Settings passed on to uv through its environment: pip's name -> uv's variable.
ENVIRONMENT = {"cert": "SSL_CERT_FILE", "timeout": "UV_HTTP_TIMEOUT", "default-timeout": "UV_HTTP_TIMEOUT"}


class Untranslatable(Exception):
    """A pip setting uv cannot be given: the install falls back to pip."""


def parse_pip_config(text: str) -> dict[str, str]:
    """``pip config list`` output -> {setting: value}, the highest-precedence section winning.

    >>> parse_pip_config("global.find-links='/a'\\n:env:.find-links='/b'\\nglobal.cert='/c.crt'")
    {'find-links': '/b', 'cert': '/c.crt'}
    """
    found: dict[str, tuple[int, str]] = {}
    for line in text.splitlines():
        name, sep, raw = line.strip().partition("=")
        if not sep:
            continue
        section, _, key = name.rpartition(".")
        if section not in SECTIONS:
            continue  # another command's section (e.g. [download])
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        rank = SECTIONS.index(section)
        if key not in found or rank >= found[key][0]:
            found[key] = (rank, str(value))
    return {key: value for key, (_, value) in found.items()}


def _true(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def uv_options(settings: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """uv's options and environment variables for pip's ``settings``; raise :class:`Untranslatable`.

    pip considers every index for every package and takes the best version,
    so uv is told to do the same (``--index-strategy unsafe-best-match``).

    >>> uv_options({"extra-index-url": "file:///a file:///b", "cert": "/c.crt"})
    (['--index-strategy', 'unsafe-best-match', '--extra-index-url', 'file:///a', '--extra-index-url', 'file:///b'], {'SSL_CERT_FILE': '/c.crt'})
    """
    args = ["--index-strategy", "unsafe-best-match"]
    env: dict[str, str] = {}
    for key, value in settings.items():
        if key in MULTI:
            for item in value.split():
                args += [MULTI[key], item]
        elif key in SINGLE:
            args += [SINGLE[key], value.strip()]
        elif key in FLAGS:
            if _true(value):
                args.append(FLAGS[key])
        elif key in ENVIRONMENT:
            env[ENVIRONMENT[key]] = value.strip()
        elif key not in HARMLESS:
            raise Untranslatable(f"pip setting {key}={value!r} has no uv equivalent here")
    return args, env


def _run(command: list[str], env: dict[str, str] | None = None) -> None:
    print(" ".join(shlex.quote(part) for part in command), flush=True)
    subprocess.run(command, check=True, env={**os.environ, **(env or {})})


def with_pip(python: Path, requirement: str) -> None:
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-compile", "--upgrade", "pip"])
    _run([str(python), "-m", "pip", "install", "--quiet", "--no-compile", "-e", requirement])


def with_uv(python: Path, requirement: str) -> None:
    """Install ``requirement`` with uv (itself installed into the environment by pip); raise on a failure."""
    listing = subprocess.run(
        [str(python), "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    args, env = uv_options(parse_pip_config(listing))
    uv = python.parent / "uv"
    if not uv.exists():
        _run([str(python), "-m", "pip", "install", "--quiet", "--no-compile", "uv"])
    _run([str(uv), "pip", "install", "--quiet", "--python", str(python), *args, "-e", requirement], env)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        print("usage: python tools/install.py VENV REQUIREMENT (e.g. .venv '.[book,test]')", file=sys.stderr)
        return 2
    venv, requirement = Path(argv[0]), argv[1]
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"{python}: no virtual environment there (python -m venv {venv} first)", file=sys.stderr)
        return 2
    installer = os.environ.get("EMOCIRC_INSTALLER", "uv")
    if installer not in {"uv", "pip"}:
        print(f"EMOCIRC_INSTALLER={installer!r}: expected uv or pip", file=sys.stderr)
        return 2
    if installer == "uv":
        try:
            with_uv(python, requirement)
            return 0
        except Untranslatable as why:
            print(f"install: {why}; installing with pip", flush=True)
        except subprocess.CalledProcessError as err:
            print(f"install: uv failed (exit {err.returncode}); installing with pip", flush=True)
    with_pip(python, requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
