"""A real-size rehearsal of the book: the real-data path, run on stand-ins for the real things.

What it builds, in ``--out``:

- ``corpora/IEMOCAP_full_release``: a synthetic IEMOCAP in the release's
  layout (five sessions, ``sentences/wav``, ``dialog/EmoEvaluation``) at
  the release's size with ``--size full`` (scale 11.2: 10,080 utterances,
  with the release's share of each emotion code, so that about 5,550 fall
  in the four standard classes; the release has 10,039 and 5,531);
- ``corpora/emodb``: ``wav/`` holding EMODB's 535 published file names
  (:func:`emocirc.corpora.emodb.release_file_names`), each a synthetic
  utterance of that name's speaker, sentence and emotion (``--size
  reduced``: of its speaker and emotion, from a smaller synthetic corpus);
- ``hf/hub/models--facebook--wav2vec2-base``: a backbone in the Hugging Face
  hub cache's layout (``blobs/``, ``snapshots/<rev>/`` links, ``refs/main``),
  under the id the real-data settings name.  Its weights are a **random
  initialisation** (the wav2vec2-base architecture with ``--size full``, the
  tiny test architecture with ``reduced``), not the pre-trained checkpoint:
  the rehearsal tests the path and times it, and its numbers are no finding
  about anything;
- ``params.yml``: ``examples/real-data.yml`` with the two corpus roots
  pointed at these folders, and (``reduced``) fewer epochs and resamples.

Then it executes the chapters through ``book/build.py``'s own parameter
merging and papermill runner (into ``--out/executed``, never the book's
``book/executed``), with ``HF_HOME`` on the fake hub cache, offline, and
``EMOCIRC_CACHE`` in ``--out/cache``, and writes ``--out/rehearsal.json``:
each chapter's seconds, the settings and the sizes.

    python benchmarks/rehearsal.py --out /tmp/rehearsal                 # full size (GPU)
    python benchmarks/rehearsal.py --out /tmp/r --size reduced --device cpu
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HUB_ID = "facebook/wav2vec2-base"
#: IEMOCAP's release: 10,039 utterances; synth's scale 1 is 900 (emocirc.synth.iemocap_plan).
FULL_IEMOCAP_SCALE = 11.2
#: Utterances per code in IEMOCAP's release (../shared/REFERENCES.md: the four classes, with exc
#: merged into hap, are 5,531), as the shares of the rehearsal's codes.
RELEASE_CODES = {
    "neu": 1708, "hap": 595, "exc": 1041, "sad": 1084, "ang": 1103, "fru": 1849,
    "xxx": 2507, "sur": 107, "fea": 40, "dis": 2, "oth": 3,
}  # fmt: skip
#: Sizes: (IEMOCAP scale, EMODB synthetic scale, backbone architecture).
SIZES = {"full": (FULL_IEMOCAP_SCALE, 1.0, "base-random"), "reduced": (0.05, 0.05, "tiny")}
#: What the reduced size changes in the real-data settings, besides the roots and the device.
REDUCED = {
    "shared": {"finetune": {"epochs": 1}},
    "03_first_model": {"torch_threads": 1, "n_components": 3, "probe_folds": 2},
    "04_fine_tuning": {"fold": "0"},
    "05_transfer_emodb": {"n_components": 3},
    "06_gaussians_mahalanobis": {"n_boot": 20},
    "07_polar_ordering": {"n_boot": 20, "n_permutations": 200},
    "08_automatic_mapping": {"n_boot": 10},
    "09_heat_map": {
        "seeds": [0],
        "days": 5,
        "change_day": 4,
        "baseline_days": 3,
        "recordings_per_day": 4,
        "recording_s": 5.0,
        "min_speech_s": 3.0,
        "n_boot": 10,
        "grid_size": 20,
    },
}


@functools.cache
def load_build():
    """``book/build.py`` as a module (a script, not a package module), loaded once."""
    spec = importlib.util.spec_from_file_location("book_build", ROOT / "book" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_iemocap(out: Path, scale: float, jobs: int | None) -> Path:
    """A synthetic IEMOCAP in the release's layout (its marker file keeps chapters saying "synthetic")."""
    from emocirc.synth import synthesize_iemocap

    root = out / "IEMOCAP_full_release"
    if not root.is_dir():
        total = sum(RELEASE_CODES.values())
        shares = {code: n / total for code, n in RELEASE_CODES.items()}
        synthesize_iemocap(root, scale=scale, jobs=jobs, shares=shares)
    return root


def build_emodb(out: Path, scale: float, jobs: int | None) -> Path:
    """``wav/`` with EMODB's published names, each a synthetic utterance of its speaker, sentence and emotion.

    The synthetic generator writes versions ``a``, ``b`` of every speaker x
    sentence x emotion; a published name of another version takes version
    ``a``'s audio; at small scales, where a sentence was not synthesised, the
    name takes another sentence of the same speaker and emotion (so at
    ``reduced`` size many names share one audio, each still embedded).
    """
    from emocirc.corpora.emodb import release_file_names
    from emocirc.provenance import SYNTHETIC_MARKER
    from emocirc.synth import synthesize_emodb

    root = out / "emodb"
    if (root / "wav").is_dir():
        return root
    source = synthesize_emodb(out / "emodb-synthetic", scale=scale, jobs=jobs)
    staged = out / ".emodb.partial"
    shutil.rmtree(staged, ignore_errors=True)
    (staged / "wav").mkdir(parents=True)
    synthesized = sorted(p.name for p in (source / "wav").glob("*.wav"))
    for name in release_file_names():
        # Same sentence and version, else version a, else (small scales) another sentence
        # of the same speaker and emotion: every published name is there at any scale.
        candidates = [f"{name[:6]}{name[6]}.wav", f"{name[:6]}a.wav"]
        candidates += [n for n in synthesized if n[:2] == name[:2] and n[5] == name[5]]
        found = next(source / "wav" / n for n in candidates if (source / "wav" / n).is_file())
        shutil.copyfile(found, staged / "wav" / name)
    shutil.copyfile(source / SYNTHETIC_MARKER, staged / SYNTHETIC_MARKER)
    shutil.rmtree(source)
    os.replace(staged, root)
    return root


def build_hub_backbone(hf_home: Path, architecture: str) -> str:
    """Save a randomly initialised backbone under :data:`HUB_ID` in the hub cache's layout; return the revision."""
    from transformers import Wav2Vec2FeatureExtractor

    from emocirc.backbones import load_backbone
    from emocirc.checkpoints import PROVENANCE_NOTE

    repo = hf_home / "hub" / f"models--{HUB_ID.replace('/', '--')}"
    if (repo / "refs" / "main").is_file():
        return (repo / "refs" / "main").read_text().strip()
    staged = hf_home / ".staged-backbone"
    shutil.rmtree(staged, ignore_errors=True)
    load_backbone(architecture).model.save_pretrained(staged)  # model.safetensors + config.json
    Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False).save_pretrained(staged)
    note = (
        f"not the published {HUB_ID}: a random initialisation of the {architecture} architecture "
        "placed under its id by benchmarks/rehearsal.py, to time the real-data path"
    )
    (staged / PROVENANCE_NOTE).write_text(json.dumps({"note": note}, indent=1) + "\n")
    files = sorted(p for p in staged.iterdir() if p.is_file())
    revision = hashlib.sha1(b"".join(p.read_bytes() for p in files)).hexdigest()
    snapshot = repo / "snapshots" / revision
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for path in files:
        blob = hashlib.sha256(path.read_bytes()).hexdigest()
        shutil.move(path, repo / "blobs" / blob)
        (snapshot / path.name).symlink_to(Path("..", "..", "blobs", blob))
    shutil.rmtree(staged)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(revision)
    return revision


def write_params(out: Path, roots: dict[str, Path], size: str, device: str) -> Path:
    """``examples/real-data.yml`` pointed at the rehearsal's corpora (and, reduced, made cheap)."""
    import yaml

    params = yaml.safe_load((ROOT / "examples" / "real-data.yml").read_text())
    params["shared"].update({"emodb_root": str(roots["emodb"]), "iemocap_root": str(roots["iemocap"])})
    params["shared"]["device"] = device
    if size == "reduced":
        for section, values in REDUCED.items():
            merged = params.setdefault(section, {})
            for key, value in values.items():
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key] = {**merged[key], **value}  # e.g. the shared fine-tuning settings
                else:
                    merged[key] = value
    path = out / "params.yml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


def rehearse(
    out: Path,
    size: str = "full",
    device: str = "auto",
    chapters: list[str] | None = None,
    timeout: float = 3600,
    jobs: int | None = None,
) -> dict:
    """Build the stand-ins, execute the chapters, and return (and write) the record."""
    import torch

    from emocirc.corpora import load_corpus

    iemocap_scale, emodb_scale, architecture = SIZES[size]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    out.mkdir(parents=True, exist_ok=True)
    record: dict = {"size": size, "device": device, "backbone_id": HUB_ID, "seconds": {}}
    record["weights"] = f"random initialisation of the {architecture} architecture, not pre-trained"
    tic = time.perf_counter()
    roots = {
        "iemocap": build_iemocap(out / "corpora", iemocap_scale, jobs),
        "emodb": build_emodb(out / "corpora", emodb_scale, jobs),
    }
    record["seconds"]["corpora"] = time.perf_counter() - tic
    iemocap = load_corpus(roots["iemocap"])
    record["iemocap"] = {
        "utterances": len(iemocap),
        "four_class": len(load_corpus(roots["iemocap"], four_class=True)),
        "hours": float(iemocap["duration"].sum() / 3600),
    }
    record["emodb"] = {"utterances": len(load_corpus(roots["emodb"]))}
    print(f"[rehearsal] IEMOCAP {record['iemocap']}, EMODB {record['emodb']}", flush=True)

    hf_home = out / "hf"
    record["revision"] = build_hub_backbone(hf_home, architecture)
    params_file = write_params(out, roots, size, device)
    os.environ.update({"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "EMOCIRC_CACHE": str(out / "cache")})

    build = load_build()
    notebooks = build.discover()
    if chapters:
        unknown = set(chapters) - {p.stem for p in notebooks}
        if unknown:
            raise SystemExit(f"rehearsal: unknown chapter(s) {sorted(unknown)}")
        notebooks = [p for p in notebooks if p.stem in chapters]
    overrides = build.load_params(params_file, build.discover())
    for source in notebooks:
        print(f"[rehearsal] {source.stem}: executing", flush=True)
        seconds = build.execute(
            source, out / "executed" / f"{source.stem}.ipynb", overrides[source.stem], timeout
        )
        record["seconds"][source.stem] = seconds
        print(f"[rehearsal] {source.stem}: {seconds:.0f} s", flush=True)
    record["seconds"]["chapters_total"] = sum(v for k, v in record["seconds"].items() if k[:2].isdigit())
    (out / "rehearsal.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="working folder (reused when run again)")
    parser.add_argument("--size", choices=sorted(SIZES), default="full")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cuda or cpu")
    parser.add_argument("--chapters", nargs="*", help="notebook stems to execute (default: all)")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed per chapter")
    parser.add_argument("--jobs", type=int, default=None, help="processes rendering the corpora")
    args = parser.parse_args(argv)
    build = load_build()
    try:
        record = rehearse(args.out, args.size, args.device, args.chapters, args.timeout, args.jobs)
    except build.BuildError as err:
        print(f"rehearsal: error: {err}", file=sys.stderr)
        return 1
    for name, seconds in record["seconds"].items():
        print(f"{name:28s} {seconds:8.1f} s")
    print(f"wrote {args.out / 'rehearsal.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
