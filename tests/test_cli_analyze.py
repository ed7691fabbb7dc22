"""`emocirc analyze` end to end on a constructed features file."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from emocirc.cli import main
from tests.features_files import write_features_file

pytestmark = pytest.mark.usefixtures("emocirc_cache")


@pytest.fixture(autouse=True)
def _agg_backend(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


def _features(path, labels=("happiness", "anger", "fear", "sadness", "boredom", "neutral"), n=30, va=False):
    rng = np.random.default_rng(0)
    angles = np.linspace(0, 360, len(labels), endpoint=False)
    emb, lab, spk = [], [], []
    for label, deg in zip(labels, angles, strict=True):
        centre = np.zeros(6)
        centre[:2] = 6 * np.cos(np.radians(deg)), 6 * np.sin(np.radians(deg))
        emb.append(centre + rng.normal(0, 1, (n, 6)))
        lab += [label] * n
        spk += [f"{i % 4:02d}" for i in range(n)]
    X = np.vstack(emb)
    arrays = {
        "ids": np.array([f"u{i}" for i in range(len(lab))]),
        "labels": np.array(lab),
        "speakers": np.array(spk),
        "embeddings": np.stack([X * 0.5, X], axis=1).astype(np.float32),
        "layers": np.array([0, 1]),
        "valence": X[:, 0] / 3 + 3 if va else np.full(len(lab), np.nan),
        "arousal": X[:, 1] / 3 + 3 if va else np.full(len(lab), np.nan),
    }
    np.savez(path, **arrays)
    return path


def test_analyze_writes_json_and_figures(tmp_path, capsys):
    feats = _features(tmp_path / "f.npz", va=True)
    out = tmp_path / "out"
    rc = main(
        [
            "analyze",
            str(feats),
            "--out",
            str(out),
            "--n-boot",
            "30",
            "--dims",
            "3",
            "--origin",
            "neutral",
            "--reference",
            "nrc-vad",
        ]
    )
    assert rc == 0
    data = json.loads((out / "analysis.json").read_text())
    assert data["layer"] == 1 and data["dims"] == 3 and data["origin"] == "neutral"
    assert len(data["mahalanobis"]) == 15
    for row in data["mahalanobis"]:
        assert row["ci_low"] <= row["distance"] <= row["ci_high"]
    assert data["polar"]["neutral"]["angle_deg"] is None
    assert data["order"] and "neutral" not in data["order"]
    assert set(data["order_agreement"]) >= {"statistic", "p_value"}
    assert set(data["procrustes"]) >= {"rotation_deg", "reflection", "scale", "disparity"}
    assert data["ccc"]["ridge"]["valence"] > 0.9
    assert set(data["centroids"]) == {"happiness", "anger", "fear", "sadness", "boredom", "neutral"}
    for name in data["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {"explained_variance.png", "ellipses.png", "circumplex.png", "mahalanobis.png"} <= set(
        data["figures"]
    )
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert "order:" in capsys.readouterr().out


def test_analyze_is_reproducible(tmp_path):
    feats = _features(tmp_path / "f.npz")
    for name in ("a", "b"):
        assert (
            main(["analyze", str(feats), "--out", str(tmp_path / name), "--n-boot", "20", "--no-figures"])
            == 0
        )
    a = json.loads((tmp_path / "a" / "analysis.json").read_text())
    b = json.loads((tmp_path / "b" / "analysis.json").read_text())
    a.pop("features"), b.pop("features")
    assert a == b
    assert a["figures"] == []


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        (
            {"labels": np.array(["anger", "sadness"])},
            "features file lacks array(s) ids, speakers, embeddings",
        ),
        ({"embeddings": np.zeros((4, 3)), "labels": np.array(["anger"] * 4)}, "at least 2 emotions"),
        (
            {"embeddings": np.zeros((2, 3)), "labels": np.array(["anger", "sadness"])},
            "expected more than dims",
        ),
    ],
)
def test_bad_input_fails_with_one_line(tmp_path, arrays, message, capsys):
    path = tmp_path / "bad.npz"
    if "embeddings" in arrays:
        write_features_file(path, arrays["embeddings"], arrays["labels"])
    else:
        np.savez(path, **arrays)
    assert main(["analyze", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err and str(path) in err
    assert not (tmp_path / "o" / "analysis.json").exists()


def test_command_line_error_has_no_traceback(tmp_path):
    path = tmp_path / "bad.npz"
    np.savez(path, labels=np.array(["anger", "sadness"]))
    proc = subprocess.run(
        [sys.executable, "-m", "emocirc", "analyze", str(path), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith(
        f"emocirc: error: {path}: features file lacks array(s) ids, speakers, embeddings"
    )
    assert proc.stderr.count("\n") == 1


def test_an_unknown_origin_names_it_and_the_choices(tmp_path, capsys):
    args = ["analyze", str(tmp_path / "f.npz"), "--out", str(tmp_path / "o"), "--origin", "centre"]
    assert main(args) == 2
    assert "origin='centre': expected one of grand-mean, neutral" in capsys.readouterr().err


def test_missing_file_names_it(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nope.npz"), "--out", str(tmp_path / "o")]) == 2
    assert "nope.npz: features file not found" in capsys.readouterr().err


def _line_features(path, n=30):
    """Six emotions along one line: the plane's second axis holds almost nothing."""
    rng = np.random.default_rng(1)
    labels = ("happiness", "anger", "fear", "sadness", "boredom", "neutral")
    emb, lab, spk = [], [], []
    for k, label in enumerate(labels):
        centre = np.zeros(6)
        centre[0] = 4.0 * k
        noise = rng.normal(0, 1, (n, 6)) * np.array([1.0, 0.05, 0.05, 0.05, 0.05, 0.05])
        emb.append(centre + noise)
        lab += [label] * n
        spk += [f"{i % 4:02d}" for i in range(n)]
    X = np.vstack(emb)
    np.savez(
        path,
        ids=np.array([f"u{i}" for i in range(len(lab))]),
        labels=np.array(lab),
        speakers=np.array(spk),
        embeddings=np.stack([X, X], axis=1).astype(np.float32),
        layers=np.array([0, 1]),
        valence=np.full(len(lab), np.nan),
        arousal=np.full(len(lab), np.nan),
    )
    return path


def test_analyze_prints_variance_shares_and_identifiability(tmp_path, capsys):
    rc = main(["analyze", str(_features(tmp_path / "c.npz")), "--out", str(tmp_path / "c"), "--n-boot", "20",
               "--no-figures"])  # fmt: skip
    assert rc == 0
    circle = capsys.readouterr().out
    assert "plane variance shares: axis 1" in circle and "axis 2" in circle
    assert "not identifiable" not in circle and "The order is identifiable" in circle
    rc = main(["analyze", str(_line_features(tmp_path / "l.npz")), "--out", str(tmp_path / "l"), "--n-boot",
               "20", "--no-figures"])  # fmt: skip
    assert rc == 0
    line = capsys.readouterr().out
    assert "Order not identifiable" in line and "second axis holds" in line
    data = json.loads((tmp_path / "l" / "analysis.json").read_text())
    assert data["order_check"]["identifiable"] is False
