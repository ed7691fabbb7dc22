"""No silent loss: damaged audio stops extract, finetune and evaluate, naming the files, unless --skip-bad.

Each kind of damage a real corpus copy holds (a text file named .wav, an
empty file, a truncated header, truncated samples) must stop each command
with one line that names the file, before any long work (no cache entry, no
run directory); ``--skip-bad`` leaves the files out and records them in what
the command writes.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from emocirc.cli import main
from emocirc.corpora import load_corpus
from emocirc.features import load_features
from tests.damage import KINDS, damage
from tests.layouts import EMODB_SAMPLE, make_emodb

pytestmark = pytest.mark.usefixtures("emocirc_cache")

FINETUNE = ["--model", "tiny", "--epochs", "1", "--device", "cpu", "--no-progress", "--crop-seconds", "1"]


@pytest.fixture(scope="module")
def synthetic(shared_corpus) -> tuple[Path, Path]:
    return shared_corpus("iemocap", 0.1), shared_corpus("emodb", 0.05)


def _damaged_copy(source: Path, target: Path, kinds, per_class: int = 6) -> tuple[Path, list[Path]]:
    """A small CSV-manifest corpus: the shortest ``per_class`` utterances of each of the four classes
    of ``source``, copied, then one file damaged per kind (the training stays a few seconds)."""
    table = load_corpus(source, four_class=True)
    table = table.sort_values(["duration", "id"]).groupby("label", sort=True).head(per_class)
    (target / "clips").mkdir(parents=True)
    rows = []
    for row in table.sort_values("id").itertuples():
        shutil.copyfile(row.path, target / "clips" / f"{row.id}.wav")
        rows.append(f"clips/{row.id}.wav,{row.label},{row.speaker}")
    (target / "manifest.csv").write_text("path,label,speaker\n" + "\n".join(rows) + "\n")
    wavs = sorted((target / "clips").glob("*.wav"))
    step = max(1, len(wavs) // (len(kinds) + 1))
    chosen = [wavs[step * (i + 1)] for i in range(len(kinds))]
    for wav, kind in zip(chosen, kinds, strict=True):
        damage(wav, kind)
    return target, chosen


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.strip().splitlines() if line]
    assert len(err) == 1, err
    assert err[0].startswith("emocirc: error: ")
    return err[0]


@pytest.mark.parametrize("kind", KINDS)
def test_extract_stops_before_any_work_then_skip_bad_records(tmp_path, capsys, kind):
    root = make_emodb(tmp_path / "emodb")
    bad = damage(root / "wav" / EMODB_SAMPLE[1], kind)
    out = tmp_path / "f.npz"
    args = ["extract", str(root), "--out", str(out), "--precision", "fp32", "--quiet"]
    assert main(args) == 2
    line = _one_error_line(capsys)
    assert str(bad) in line and "--skip-bad" in line
    assert not out.exists() and not (tmp_path / "cache" / "features").exists()  # nothing was computed
    assert main([*args, "--skip-bad"]) == 0
    assert str(bad) in capsys.readouterr().err
    feats = load_features(out)
    assert len(feats) == len(EMODB_SAMPLE) - 1 and bad.stem not in set(feats.ids)
    (skipped,) = feats.skipped
    assert skipped.startswith(str(bad))


@pytest.mark.parametrize("kind", KINDS)
def test_finetune_and_evaluate_stop_naming_the_file(synthetic, tmp_path, capsys, kind):
    iemocap, emodb = synthetic
    root, (bad,) = _damaged_copy(iemocap, tmp_path / "iemocap", [kind])
    assert main(["finetune", str(root), "--out", str(tmp_path / "run"), *FINETUNE]) == 2
    assert str(bad) in _one_error_line(capsys)
    assert not (tmp_path / "run").exists()
    eroot, (ebad,) = _damaged_copy(emodb, tmp_path / "emodb", [kind])
    # The run is checked first; any finished run will do: a missing one names itself.
    fake_run = tmp_path / "no-run"
    assert main(["evaluate", str(fake_run), str(eroot)]) == 2
    assert str(fake_run) in _one_error_line(capsys)


def test_finetune_and_evaluate_with_skip_bad_record_every_kind(synthetic, tmp_path, capsys):
    iemocap, emodb = synthetic
    root, bad = _damaged_copy(iemocap, tmp_path / "iemocap", KINDS)
    run = tmp_path / "run"
    args = ["finetune", str(root), "--out", str(run), *FINETUNE]
    assert main(args) == 2
    line = _one_error_line(capsys)
    assert f"{len(KINDS)} of " in line and all(str(b) in line for b in bad)
    assert main([*args, "--skip-bad"]) == 0
    training = json.loads((run / "training_config.json").read_text())
    assert sorted(s.split(": ")[0] for s in training["skipped"]) == sorted(str(b) for b in bad)

    eroot, ebad = _damaged_copy(emodb, tmp_path / "emodb", KINDS)
    report = tmp_path / "eval.json"
    eval_args = ["evaluate", str(run), str(eroot), "--device", "cpu", "--out", str(report)]
    capsys.readouterr()
    assert main(eval_args) == 2
    line = _one_error_line(capsys)
    assert all(str(b) in line for b in ebad) and not report.exists()
    assert main([*eval_args, "--skip-bad"]) == 0
    result = json.loads(report.read_text())
    assert sorted(s.split(": ")[0] for s in result["skipped"]) == sorted(str(b) for b in ebad)
    err = capsys.readouterr().err
    assert all(str(b) in err for b in ebad)


def test_features_files_without_a_skipped_array_stay_readable(tmp_path):
    import numpy as np

    from emocirc.features import Features, save_features

    feats = Features(
        ids=np.array(["a"]),
        labels=np.array(["anger"]),
        speakers=np.array(["s"]),
        embeddings=np.zeros((1, 1, 2), np.float32),
        layers=np.array([0]),
        valence=np.array([np.nan]),
        arousal=np.array([np.nan]),
        skipped=["/x/b.wav: unreadable audio"],
    )
    save_features(tmp_path / "new.npz", feats)
    assert load_features(tmp_path / "new.npz").skipped == ["/x/b.wav: unreadable audio"]
    with np.load(tmp_path / "new.npz") as npz:
        old = {name: npz[name] for name in npz.files if name != "skipped"}
    np.savez(tmp_path / "old.npz", **old)
    assert load_features(tmp_path / "old.npz").skipped == []


def test_banner_stops_a_chapter_on_damaged_audio_unless_skip_bad(tmp_path):
    from emocirc.errors import EmocircError
    from emocirc.provenance import banner

    root = make_emodb(tmp_path / "emodb")
    bad = damage(root / "wav" / EMODB_SAMPLE[2], "header")
    with pytest.raises(EmocircError, match=str(bad)):
        banner(
            {"EMODB": root, "Mood diary": tmp_path / "not-a-corpus"},
            "tiny",
            skip_bad=False,
            corpora=["EMODB"],
        )
    text = banner({"EMODB": root}, "tiny", skip_bad=True).data
    assert "Left out (skip_bad)" in text and f"`{bad}`" in text and ":class: warning" in text
    # Without the check (skip_bad=None, as in chapter 1) nothing is read.
    assert "Left out" not in banner({"EMODB": root}, "tiny").data


def test_skip_bad_reaches_every_chapter_that_loads_a_corpus(book_build, tmp_path):
    params = tmp_path / "p.yml"
    params.write_text("shared:\n  skip_bad: true\n")
    notebooks = book_build.discover()
    overrides = book_build.load_params(params, notebooks)
    takers = {stem for stem, values in overrides.items() if values.get("skip_bad") is True}
    loaders = {
        p.stem
        for p in notebooks
        if any(call in p.read_text() for call in ("load_corpus(", "finetune_cached(", "chapter_encoder("))
    }
    assert loaders and loaders <= takers
    for path in notebooks:
        if path.stem in loaders:
            source = path.read_text()
            # Every corpus load, fine-tuning and banner of the chapter passes it on: directly, or
            # through the one `knobs` dict its chapter_encoder calls share.
            direct = ("load_corpus(", "finetune_cached(", "banner(")
            calls = sum(source.count(c) for c in direct)
            encoder_calls = source.count("chapter_encoder(")
            through_knobs = source.count("**knobs")
            calls += encoder_calls - through_knobs
            if through_knobs:
                calls += 1
                assert re.search(r"knobs = dict\([^)]*skip_bad=skip_bad", source), path.name
            assert source.count("skip_bad=skip_bad") == calls, path.name
