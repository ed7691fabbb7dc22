"""Provenance banners: which data and which backbone produced a page's numbers.

Every chapter of the book opens with :func:`banner`, so that no number is
read without knowing whether it came from human speech or from the embedded
synthetic corpora, and from which encoder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

#: File that :mod:`emocirc.synth` writes at the root of every synthetic corpus.
SYNTHETIC_MARKER = "emocirc-synthetic.json"

_BACKBONE_NOTES = {
    "tiny": "a small wav2vec2 (4 layers x 64) built from a config in code, random initialisation (seed 0)",
    "tiny-pretrained": (
        "the same small wav2vec2 (4 layers x 64), self-supervised pre-trained by `emocirc pretrain` "
        "on the embedded unlabelled speech corpus"
    ),
    "base-random": "the wav2vec2-base architecture with random weights (seed 0)",
    "none": "no neural backbone (Russell's published data only)",
}


def is_synthetic(root: str | os.PathLike[str] | None) -> bool:
    """Whether a corpus root holds emocirc's synthetic speech (or is ``None``, the default).

    Examples
    --------
    >>> is_synthetic(None)
    True
    """
    if root is None:
        return True
    return (Path(root) / SYNTHETIC_MARKER).is_file()


def describe_data(name: str, root: str | os.PathLike[str] | None) -> str:
    """One phrase saying what a corpus root holds.

    Examples
    --------
    >>> describe_data("EMODB", None)
    'EMODB layout, synthetic speech (eSpeak NG, embedded default; not human speech)'
    """
    if is_synthetic(root):
        details = ""
        if root is not None:
            try:
                meta = json.loads((Path(root) / SYNTHETIC_MARKER).read_text())
                details = ", " + ", ".join(f"{k} {v}" for k, v in meta.items() if k in ("seed", "scale"))
            except (OSError, ValueError):
                details = ""
        return f"{name} layout, synthetic speech (eSpeak NG, embedded default{details}; not human speech)"
    return f"{name} at `{root}`"


def describe_backbone(backbone: str | os.PathLike[str]) -> str:
    """One phrase saying what a backbone specification is.

    Examples
    --------
    >>> describe_backbone("facebook/wav2vec2-base")
    '`facebook/wav2vec2-base`'
    """
    spec = str(backbone)
    if spec in _BACKBONE_NOTES:
        return f"`{spec}`: {_BACKBONE_NOTES[spec]}"
    path = Path(spec)
    if (path / "label_map.json").is_file():
        base = ""
        try:
            cfg = json.loads((path / "training_config.json").read_text())
            base = f" from `{cfg.get('model', '?')}`"
        except (OSError, ValueError):
            pass
        return f"`{path.name}`: encoder fine-tuned by emocirc{base}"
    return f"`{spec}`"


def banner_text(data: dict[str, str | os.PathLike[str] | None], backbone: str | os.PathLike[str]) -> str:
    """The banner as Markdown.

    Parameters
    ----------
    data:
        Corpus name -> root (``None`` for the embedded synthetic default).
    backbone:
        Backbone specification as given to :func:`emocirc.backbones.load_backbone`.

    Examples
    --------
    >>> print(banner_text({"IEMOCAP": None}, "tiny").splitlines()[0])
    ```{admonition} Data and backbone behind this page's numbers
    """
    lines = [f"- **Data**: {describe_data(name, root)}" for name, root in data.items()]
    lines.append(f"- **Backbone**: {describe_backbone(backbone)}")
    synthetic = any(is_synthetic(root) for root in data.values())
    if synthetic:
        lines.append(
            "\nThe speech here is synthetic: the numbers test the method, they are not findings "
            "about human emotional speech. Rerun with real corpora (see the README) for those."
        )
    style = "warning" if synthetic else "note"
    body = "\n".join(lines)
    return f"```{{admonition}} Data and backbone behind this page's numbers\n:class: {style}\n{body}\n```"


def banner(data: dict[str, str | os.PathLike[str] | None], backbone: str | os.PathLike[str]):
    """Display-ready banner (an ``IPython.display.Markdown``) for a chapter's first cell."""
    from IPython.display import Markdown

    return Markdown(banner_text(data, backbone))
