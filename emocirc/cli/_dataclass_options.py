"""Command-line options generated from a settings dataclass: one option per field.

``emocirc finetune`` (:class:`~emocirc.finetune_config.FinetuneConfig`) and
``emocirc pretrain`` (:class:`~emocirc.pretrain_config.PretrainConfig`) expose
every field this way, so a new field is reachable without touching the
command line.  Each option defaults to ``None`` ("not given"), so values from
a YAML file can be overridden by exactly the options the user typed; the help
of a field is its paragraph in the class docstring's ``Parameters`` section.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any


def field_help(cls: type) -> dict[str, str]:
    """Each field's paragraph of ``cls``'s numpy-style ``Parameters`` section, on one line.

    Examples
    --------
    >>> from emocirc.pretrain_config import PretrainConfig
    >>> field_help(PretrainConfig)["steps"].split(";")[0]
    'Optimiser steps'
    """
    doc = (cls.__doc__ or "").split("Parameters\n    ----------\n", 1)[-1]
    doc = doc.split("\n    Examples\n", 1)[0]
    helps: dict[str, str] = {}
    for names, body in re.findall(r"^    (\w[\w, ]*):\n((?:        .*\n?|\s*\n)*)", doc, flags=re.M):
        text = " ".join(body.split()).replace("``", "").replace("%", "%%")
        text = re.sub(r":(?:class|func|meth|mod):`~?([^`]+)`", r"\1", text)
        for name in names.split(","):
            helps[name.strip()] = text
    return helps


def option_name(field_name: str, renamed: dict[str, str] | None = None) -> str:
    """The option of a field: ``--lr-backbone`` for ``lr_backbone``, unless ``renamed`` says otherwise.

    Examples
    --------
    >>> option_name("lr_backbone"), option_name("backbone", {"backbone": "--model"})
    ('--lr-backbone', '--model')
    """
    return (renamed or {}).get(field_name, "--" + field_name.replace("_", "-"))


def add_field_options(
    parser: argparse.ArgumentParser,
    cls: type,
    *,
    title: str,
    renamed: dict[str, str] | None = None,
    aliases: dict[str, tuple[str, ...]] | None = None,
    choices: dict[str, tuple[str, ...]] | None = None,
    special: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Add one option per field of the dataclass ``cls`` to ``parser`` (each defaulting to ``None``).

    Booleans get ``--x/--no-x``; numbers are parsed as the default's type;
    ``choices`` restricts a field; ``special`` gives a field its own
    argparse keywords (``type``, ``action``, ``metavar``; a ``"note"`` entry
    replaces the ``[default]`` shown in the help).

    Examples
    --------
    >>> from emocirc.pretrain_config import PretrainConfig
    >>> p = argparse.ArgumentParser()
    >>> add_field_options(p, PretrainConfig, title="settings")
    >>> values_given(p.parse_args(["--steps", "5"]), PretrainConfig)
    {'steps': 5}
    """
    defaults = cls()
    helps = field_help(cls)
    group = parser.add_argument_group(title)
    for f in dataclasses.fields(cls):
        default = getattr(defaults, f.name)
        names = (option_name(f.name, renamed), *(aliases or {}).get(f.name, ()))
        help_text = helps.get(f.name, f.name)
        kwargs: dict[str, Any] = {"dest": f.name, "default": None}
        extra = dict((special or {}).get(f.name, {}))
        note = extra.pop("note", None)
        if extra:
            kwargs.update(extra)
            help_text += f" {note}" if note else f" [{default}]"
        elif isinstance(default, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
            help_text += f" [{'on' if default else 'off'}]"
        else:
            if isinstance(default, (int, float)):
                kwargs["type"] = type(default)
            if f.name in (choices or {}):
                kwargs["choices"] = (choices or {})[f.name]
            help_text += f" [{default}]"
        group.add_argument(*names, help=help_text, **kwargs)


def values_given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of ``cls`` whose options were given on the command line, and their values."""
    return {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(cls)
        if getattr(args, f.name, None) is not None
    }
