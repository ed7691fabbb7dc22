"""Tests of ``emocirc extract``: the documented features file, cache, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from emocirc.cli import main
from emocirc.features import REQUIRED_ARRAYS, load_features
from tests.layouts import make_emodb, make_iemocap

pytestmark = pytest.mark.usefixtures("emocirc_cache")


def test_extract_emodb_layout_writes_documented_file(tmp_path, capsys):
    root = make_emodb(tmp_path / "emodb")
    out = tmp_path / "feats.npz"
    code = main(
        [
            "extract",
            str(root),
            "--out",
            str(out),
            "--model",
            "tiny",
            "--layers",
            "0,2,4",
            "--device",
            "cpu",
            "--precision",
            "fp32",
            "--quiet",
        ]
    )
    assert code == 0
    with np.load(out, allow_pickle=False) as npz:
        assert set(REQUIRED_ARRAYS) <= set(npz.files)
        n = len(npz["ids"])
        assert n == 22 and npz["embeddings"].shape == (n, 3, 64)
        assert npz["embeddings"].dtype == np.float32 and npz["layers"].tolist() == [0, 2, 4]
        assert np.isnan(npz["valence"]).all()  # EMODB has no dimensional labels
        assert {"03", "16"} <= set(npz["speakers"].tolist())
    assert "22 rows x 3 layers x 64 dims" in capsys.readouterr().out
    assert any((tmp_path / "cache" / "features").rglob("*.npy"))


def test_extract_iemocap_layout_keeps_valence_arousal(tmp_path):
    root = make_iemocap(tmp_path / "iemocap", sessions=(1,), per_speaker=3)
    out = tmp_path / "f.npz"
    assert (
        main(["extract", str(root), "--out", str(out), "--layers", "-1", "--precision", "fp32", "--quiet"])
        == 0
    )
    feats = load_features(out)
    assert feats.layers.tolist() == [4]
    assert np.isfinite(feats.valence).all() and np.isfinite(feats.arousal).all()
    assert set(feats.speakers) <= {"1F", "1M"}


def test_bad_out_name_and_bad_layers_exit_2(tmp_path, capsys):
    root = make_emodb(tmp_path / "emodb", names=["03a01Wa.wav", "08a01Na.wav"])
    assert main(["extract", str(root), "--out", str(tmp_path / "f.txt")]) == 2
    assert main(["extract", str(root), "--out", str(tmp_path / "f.npz"), "--layers", "9"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "f.txt" in err[0] and "layer 9" in err[1]
    assert not (tmp_path / "f.npz").exists()


def test_corrupt_file_one_line_error_then_skip_bad(tmp_path, capsys):
    root = make_emodb(tmp_path / "emodb", names=["03a01Wa.wav", "08a01Na.wav", "09a01Ta.wav"])
    wav = root / "wav" / "08a01Na.wav"
    # A readable header over samples that cannot be used: the corpus lists it, decoding fails.
    sf.write(wav, np.full(4000, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    out = tmp_path / "f.npz"
    args = ["extract", str(root), "--out", str(out), "--precision", "fp32", "--quiet"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "08a01Na.wav" in err[0]
    assert not out.exists()
    # The two good files were computed before the run stopped, and stay cached.
    assert len(list((tmp_path / "cache" / "features").rglob("*.npy"))) == 2
    assert main([*args, "--skip-bad"]) == 0
    assert "skipped" in capsys.readouterr().err
    assert load_features(out).ids.tolist() == ["03a01Wa", "09a01Ta"]


def test_the_precision_choices_are_the_extractors():
    import argparse

    from emocirc.cli import extract as cli_extract
    from emocirc.features import PRECISIONS

    parser = argparse.ArgumentParser()
    cli_extract.register(parser.add_subparsers())
    action = next(
        a for a in parser._subparsers._group_actions[0].choices["extract"]._actions if a.dest == "precision"
    )
    assert tuple(action.choices) == PRECISIONS
