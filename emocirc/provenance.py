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
        return f"`{path.name}`: encoder fine-tuned by emocirc{base}" + _weights(spec)
    return f"`{spec}`" + _weights(spec)


def _weights(spec: str) -> str:
    from emocirc.checkpoints import describe_checkpoint

    weights = describe_checkpoint(spec)
    return f", {weights}" if weights else ""


#: Damaged files a banner lists by name; the rest are counted.
MAX_LISTED = 20


def banner_text(
    data: dict[str, str | os.PathLike[str] | None],
    backbone: str | os.PathLike[str],
    skipped: dict[str, list[str]] | None = None,
) -> str:
    """The banner as Markdown.

    Parameters
    ----------
    data:
        Corpus name -> root (``None`` for the embedded synthetic default).
    backbone:
        Backbone specification as given to :func:`emocirc.backbones.load_backbone`.
    skipped:
        Corpus name -> files left out with ``skip_bad`` (``"<path>: <reason>"``).

    Examples
    --------
    >>> print(banner_text({"IEMOCAP": None}, "tiny").splitlines()[0])
    ```{admonition} Data and backbone behind this page's numbers
    >>> text = banner_text({"EMODB": "/e"}, "tiny", {"EMODB": ["/e/wav/a.wav: empty"]})
    >>> [line for line in text.splitlines() if "Left out" in line]
    ['- **Left out (skip_bad)**: EMODB: 1 damaged audio file: `/e/wav/a.wav` (empty)']
    """
    lines = [f"- **Data**: {describe_data(name, root)}" for name, root in data.items()]
    lines.append(f"- **Backbone**: {describe_backbone(backbone)}")
    for name, files in (skipped or {}).items():
        if files:
            lines.append(f"- **Left out (skip_bad)**: {name}: {_list_files(files)}")
    synthetic = any(is_synthetic(root) for root in data.values())
    if synthetic:
        lines.append(
            "\nThe speech here is synthetic: the numbers test the method, they are not findings "
            "about human emotional speech. Rerun with real corpora (see the README) for those."
        )
    style = "warning" if synthetic or any((skipped or {}).values()) else "note"
    body = "\n".join(lines)
    return f"```{{admonition}} Data and backbone behind this page's numbers\n:class: {style}\n{body}\n```"


def _list_files(files: list[str]) -> str:
    shown = []
    for entry in files[:MAX_LISTED]:
        path, _, reason = entry.partition(": ")
        # The reason repeats the path first; keep what follows it.
        reason = reason.split("; expected")[0]
        shown.append(f"`{path}` ({reason})" if reason else f"`{path}`")
    more = f"; and {len(files) - MAX_LISTED} more" if len(files) > MAX_LISTED else ""
    noun = "file" if len(files) == 1 else "files"
    return f"{len(files)} damaged audio {noun}: " + "; ".join(shown) + more


def check_corpora(
    data: dict[str, str | os.PathLike[str] | None], skip_bad: bool, corpora=None
) -> dict[str, list[str]]:
    """Check every audio file's header in the named corpus roots; the files left out, per corpus.

    Raises :class:`~emocirc.errors.EmocircError` naming the damaged files
    unless ``skip_bad`` (see :func:`emocirc.corpora.load_corpus`): a chapter
    that calls :func:`banner` first stops before any long work.

    Parameters
    ----------
    data:
        Name -> root, as for :func:`banner`.
    skip_bad:
        Leave damaged files out (and return them) instead of raising.
    corpora:
        The names in ``data`` that are corpora (default: all of them).
    """
    from emocirc.corpora import load_corpus

    names = list(data) if corpora is None else list(corpora)
    return {
        name: list(load_corpus(data[name], skip_bad=skip_bad).attrs["skipped"])
        for name in names
        if data[name] is not None
    }


def banner(
    data: dict[str, str | os.PathLike[str] | None],
    backbone: str | os.PathLike[str],
    *,
    skip_bad: bool | None = None,
    corpora=None,
):
    """Display-ready banner (an ``IPython.display.Markdown``) for a chapter's first cell.

    With ``skip_bad`` given, the corpora in ``data`` (or those named in
    ``corpora``) are checked first (:func:`check_corpora`): damaged audio
    stops the chapter here unless ``skip_bad`` is true, and then the banner
    lists the files left out.
    """
    from IPython.display import Markdown

    skipped = check_corpora(data, skip_bad, corpora) if skip_bad is not None else None
    return Markdown(banner_text(data, backbone, skipped))
