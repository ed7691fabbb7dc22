"""Tests of ``emocirc finetune`` and ``emocirc evaluate`` on the synthetic corpora."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emocirc.cli import main
from emocirc.corpora import load_corpus


@pytest.fixture
def roots(emocirc_cache, shared_corpus):
    return shared_corpus("iemocap", 0.1), shared_corpus("emodb", 0.05)


def test_finetune_then_evaluate(roots, tmp_path, capsys):
    iemocap, emodb = roots
    out = tmp_path / "run"
    args = [
        "finetune",
        str(iemocap),
        "--out",
        str(out),
        "--model",
        "tiny",
        "--epochs",
        "2",
        "--lr-backbone",
        "2e-3",
        "--lr-head",
        "2e-2",
        "--device",
        "cpu",
        "--no-progress",
        "--pad-multiple",
        "0.5",
        "--cuda-graphs",
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("epoch ") >= 2 and "best epoch" in printed
    assert "running eagerly" in printed  # no GPU here: --cuda-graphs says so
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2
    training = json.loads((out / "training_config.json").read_text())
    assert training["config"]["pad_multiple"] == 0.5
    report = tmp_path / "eval.json"
    assert main(["evaluate", str(out), str(emodb), "--device", "cpu", "--out", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "happiness predicted as anger" in printed and "accuracy (WA)" in printed
    result = json.loads(report.read_text())
    assert result["labels"] == ["anger", "happiness", "sadness", "neutral"]
    assert sum(map(sum, result["confusion"])) == result["n"]
    # A CSV manifest is a corpus too (a file, not a folder).
    manifest = tmp_path / "emodb.csv"
    load_corpus(emodb)[["path", "label", "speaker"]].to_csv(manifest, index=False)
    from_csv = tmp_path / "eval_csv.json"
    assert main(["evaluate", str(out), str(manifest), "--device", "cpu", "--out", str(from_csv)]) == 0
    capsys.readouterr()
    assert json.loads(from_csv.read_text())["confusion"] == result["confusion"]


def test_bad_input_is_one_line(tmp_path, capsys):
    assert main(["finetune", str(tmp_path / "missing"), "--out", str(tmp_path / "o"), "--model", "tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("emocirc: error:") and "missing" in err and "\n" not in err
    assert main(["evaluate", str(tmp_path), str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a finished fine-tuning run" in err


def test_parsing_the_command_line_does_not_import_torch():
    # `emocirc --help` and argument errors stay quick: torch and scikit-learn load only when a
    # command that needs them runs; extraction (emocirc.features) needs no scikit-learn.
    code = (
        "import sys; from emocirc.cli import build_parser; build_parser();"
        "print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules));"
        "import emocirc.features; print('sklearn' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:2] == ["[]", "False"], out


def _parse(*options):
    from emocirc.cli import build_parser

    return build_parser().parse_args(["finetune", "DIR", "--out", "RUN", *options])


def test_every_config_field_is_reachable_from_the_command_line(tmp_path):
    import dataclasses

    from emocirc.cli.finetune import config_from_args, option_name
    from emocirc.finetune_config import FinetuneConfig

    # A value other than the default for every field, given as its option.
    changed = {
        "backbone": ("tiny", "tiny"),
        "mode": ("full", "full"),
        "labels": ("anger,neutral", ("anger", "neutral")),
        "protocol": ("leave-one-session-out", "leave-one-session-out"),
        "fold": ("Session2", "Session2"),
        "crop_seconds": ("3.5", 3.5),
        "mixed_precision": ("no", "no"),
        "device": ("cpu", "cpu"),
        "extra": ("tag=pilot", {"tag": "pilot"}),
    }
    defaults = FinetuneConfig()
    options = []
    expected = {}
    for f in dataclasses.fields(FinetuneConfig):
        default = getattr(defaults, f.name)
        if isinstance(default, bool):
            options.append(option_name(f.name) if not default else "--no-" + option_name(f.name)[2:])
            expected[f.name] = not default
            continue
        if f.name in changed:
            text, value = changed[f.name]
        else:
            value = default * 2 + 1 if isinstance(default, int) else (default / 2 or 0.25)
            text = str(value)
        options += [option_name(f.name), text]
        expected[f.name] = value
    config = config_from_args(_parse(*options))
    assert {f.name: getattr(config, f.name) for f in dataclasses.fields(config)} == expected
    assert all(getattr(config, k) != getattr(defaults, k) for k in expected)
    # Nothing given: the dataclass's defaults (older option names keep working).
    assert config_from_args(_parse()) == defaults
    assert config_from_args(_parse("--backbone", "tiny", "--cuda-graphs")).cuda_graphs is True


def test_a_yaml_config_round_trips_and_options_override_it(tmp_path):
    from emocirc.cli.finetune import config_from_args
    from emocirc.finetune_config import FinetuneConfig

    config = FinetuneConfig(
        backbone="tiny", labels=("anger", "sadness"), crop_seconds=2.0, extra={"tag": "x"}
    )
    path = tmp_path / "run.yml"
    config.to_yaml(path)
    assert FinetuneConfig.from_yaml(path) == config
    assert config_from_args(_parse("--config", str(path))).hash() == config.hash()
    overridden = config_from_args(_parse("--config", str(path), "--epochs", "3", "--extra", "seed_note=2"))
    assert overridden.epochs == 3 and overridden.labels == ("anger", "sadness")
    assert overridden.extra == {"tag": "x", "seed_note": 2}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("epochs: 2\nlearning_rate: 0.1\n", "unknown fine-tuning setting 'learning_rate'"),
        ("- epochs\n", "expected a mapping"),
        ("epochs: [2\n", "not valid YAML"),
        ("epochs: 0\n", "epochs=0: expected a positive integer"),
    ],
)
def test_a_bad_config_file_is_one_line(tmp_path, capsys, text, expected):
    path = tmp_path / "run.yml"
    path.write_text(text)
    assert main(["finetune", str(tmp_path), "--out", str(tmp_path / "o"), "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("emocirc: error:") and expected in err and "\n" not in err
    if "unknown" in expected or "YAML" in expected:
        assert "run.yml" in err
