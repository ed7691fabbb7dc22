"""tools/install.py: pip's settings reach uv, and what uv cannot be told makes the install pip's."""

from __future__ import annotations

import doctest
import subprocess
import sys

import pytest

from tests.conftest import ROOT, load_script

install = load_script("tools/install.py", "emocirc_install")


def test_its_examples_hold():
    failed, tried = doctest.testmod(install, verbose=False)
    assert tried >= 2 and failed == 0


def test_the_environment_outranks_the_install_section_which_outranks_global():
    text = "\n".join(
        [
            "global.index-url='https://mirror.example/simple'",
            "install.index-url='https://install.example/simple'",
            "global.find-links='/g'",
            ":env:.find-links='/e1 /e2'",
            "download.no-index='true'",  # another command's section: not pip install's
            "not a setting line",
        ]
    )
    settings = install.parse_pip_config(text)
    assert settings == {"index-url": "https://install.example/simple", "find-links": "/e1 /e2"}
    args, env = install.uv_options(settings)
    assert args == [
        "--index-strategy", "unsafe-best-match",
        "--index-url", "https://install.example/simple",
        "--find-links", "/e1", "--find-links", "/e2",
    ]  # fmt: skip
    assert env == {}


def test_flags_and_environment_settings_are_translated():
    args, env = install.uv_options(
        {"no-index": "true", "no-cache-dir": "false", "timeout": "60", "disable-pip-version-check": "1"}
    )
    assert "--no-index" in args and "--no-cache" not in args
    assert env == {"UV_HTTP_TIMEOUT": "60"}


def test_a_setting_uv_cannot_take_is_named_and_not_dropped():
    with pytest.raises(install.Untranslatable, match=r"no-binary='torch'"):
        install.uv_options({"no-binary": "torch"})


def test_this_machines_pip_settings_translate():
    listing = subprocess.run(
        [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True
    ).stdout
    settings = install.parse_pip_config(listing)
    try:
        args, _ = install.uv_options(settings)
    except install.Untranslatable as why:
        pytest.skip(f"make setup installs with pip on this machine: {why}")
    for item in settings.get("find-links", "").split():
        assert ["--find-links", item] == args[args.index(item) - 1 : args.index(item) + 1]


def test_the_makefile_installs_through_it():
    assert "tools/install.py $(VENV)" in (ROOT / "Makefile").read_text()


def test_a_wrong_installer_is_named(monkeypatch, capsys):
    monkeypatch.setenv("EMOCIRC_INSTALLER", "conda")
    assert install.main([sys.prefix, ".[test]"]) == 2
    assert "EMOCIRC_INSTALLER='conda': expected uv or pip" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("failure", "said"),
    [
        (
            lambda: install.Untranslatable("pip setting no-binary='torch' has no uv equivalent here"),
            "no-binary",
        ),
        (lambda: subprocess.CalledProcessError(1, ["uv"]), "uv failed (exit 1)"),
    ],
)
def test_what_uv_cannot_do_is_said_and_pip_installs(failure, said, monkeypatch, capsys):
    def with_uv(python, requirement):
        raise failure()

    used = []
    monkeypatch.setattr(install, "with_uv", with_uv)
    monkeypatch.setattr(install, "with_pip", lambda python, requirement: used.append(requirement))
    monkeypatch.delenv("EMOCIRC_INSTALLER", raising=False)
    assert install.main([sys.prefix, ".[test]"]) == 0
    assert used == [".[test]"]
    out = capsys.readouterr().out
    assert said in out and "installing with pip" in out
