"""Checkpoints as the hub ships them (emocirc.checkpoints, through emocirc.backbones.load_backbone).

Every test builds its checkpoint in the exact Hugging Face hub-cache layout
(``models--org--name/{blobs,refs/main,snapshots/<commit>}``, files as symlinks
to their blobs) under a private ``HF_HUB_CACHE`` and loads it by id, offline.
transformers 5 no longer writes ``pytorch_model.bin``
(``save_pretrained(safe_serialization=False)`` writes safetensors), so the
``.bin`` is written as transformers 4 wrote it: ``torch.save`` of the state
dict, with the weight-norm tensors under their old names (``weight_g``,
``weight_v``), as in ``facebook/wav2vec2-base``'s file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from emocirc import checkpoints
from emocirc.backbones import builtin_config, load_backbone
from emocirc.errors import EmocircError

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """A private hub cache and emocirc cache; the network is off."""
    cache = tmp_path / "hf-hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("EMOCIRC_CACHE", str(tmp_path / "emocirc-cache"))
    return cache


def tiny_config(family: str = "wav2vec2"):
    from transformers import AutoConfig

    if family == "wav2vec2":
        return builtin_config("tiny")
    tiny = builtin_config("tiny").to_dict()
    for key in ("model_type", "architectures", "transformers_version"):
        tiny.pop(key, None)
    return AutoConfig.for_model(family, **tiny)


def head_model(family: str, head: str):
    import transformers

    names = {
        "wav2vec2": "Wav2Vec2",
        "hubert": "Hubert",
        "wavlm": "WavLM",
        "data2vec-audio": "Data2VecAudio",
    }
    cls = getattr(transformers, f"{names[family]}{head}")
    torch.manual_seed(3)
    return cls(tiny_config(family))


def legacy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The state dict as transformers 4 saved it (old weight-norm names)."""
    out = {}
    for key, value in model.state_dict().items():
        key = key.replace("parametrizations.weight.original0", "weight_g")
        key = key.replace("parametrizations.weight.original1", "weight_v")
        out[key] = value.detach().clone()
    return out


def place_in_hub(hub: Path, repo_id: str, source: Path) -> Path:
    """Copy a checkpoint directory into the hub cache layout; return the snapshot directory."""
    repo = hub / ("models--" + repo_id.replace("/", "--"))
    commit = hashlib.sha1(repo_id.encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    for item in sorted(source.iterdir()):
        data = item.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / item.name)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def write_checkpoint(directory: Path, model: torch.nn.Module, fmt: str, do_normalize: bool = True) -> Path:
    from transformers import Wav2Vec2FeatureExtractor

    model.save_pretrained(directory)  # config.json + model.safetensors
    Wav2Vec2FeatureExtractor(do_normalize=do_normalize).save_pretrained(directory)
    if fmt == "bin":
        (directory / "model.safetensors").unlink()
        torch.save(legacy_state(model), directory / "pytorch_model.bin")
    return directory


def encoder_of(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, model.base_model_prefix)


@pytest.mark.parametrize("head", ["ForPreTraining", "ForCTC", "ForSequenceClassification"])
def test_bin_only_checkpoint_loads_by_id_offline_and_is_converted_once(hub, tmp_path, head, monkeypatch):
    model = head_model("wav2vec2", head)
    place_in_hub(hub, "facebook/wav2vec2-base", write_checkpoint(tmp_path / "ckpt", model, "bin", False))
    bb = load_backbone("facebook/wav2vec2-base")
    assert type(bb.model).__name__ == "Wav2Vec2Model" and bb.do_normalize is False
    expected = encoder_of(model).state_dict()
    got = bb.model.state_dict()
    assert set(got) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0)
    info = bb.checkpoint
    assert info.format == "pytorch" and info.files == ["pytorch_model.bin"]
    assert info.architecture == f"Wav2Vec2{head}"
    heads = {"ForPreTraining": "quantizer", "ForCTC": "lm_head", "ForSequenceClassification": "classifier"}
    assert any(key.startswith(heads[head]) for key in info.dropped)
    assert not any(key.startswith("wav2vec2.") for key in info.dropped)
    snapshot = checkpoints.hub_snapshot("facebook/wav2vec2-base")
    assert info.sha256 == hashlib.sha256((snapshot / "pytorch_model.bin").read_bytes()).hexdigest()
    copy = Path(info.converted)
    assert copy.is_file() and copy.is_relative_to(tmp_path / "emocirc-cache")

    # Second use: the safetensors copy is read, the pickle is not opened again.
    def no_unpickling(path):
        raise AssertionError(f"{path} unpickled again")

    monkeypatch.setattr(checkpoints, "read_pytorch_weights", no_unpickling)
    again = load_backbone("facebook/wav2vec2-base")
    assert again.fingerprint == bb.fingerprint and again.checkpoint.dropped == info.dropped


def test_bin_and_safetensors_of_one_model_give_the_same_encoder(hub, tmp_path):
    model = head_model("wav2vec2", "ForPreTraining")
    place_in_hub(hub, "org/as-bin", write_checkpoint(tmp_path / "bin", model, "bin"))
    place_in_hub(hub, "org/as-safetensors", write_checkpoint(tmp_path / "st", model, "safetensors"))
    from_bin, from_st = load_backbone("org/as-bin"), load_backbone("org/as-safetensors")
    assert from_bin.fingerprint == from_st.fingerprint
    assert from_st.checkpoint.format == "safetensors" and from_st.checkpoint.converted == ""
    assert from_st.checkpoint.dropped == from_bin.checkpoint.dropped


@pytest.mark.parametrize("family", ["hubert", "wavlm", "data2vec-audio"])
def test_other_families_bin_with_heads_give_their_encoder(hub, tmp_path, family):
    model = head_model(family, "ForCTC")
    place_in_hub(hub, f"org/{family}-ctc", write_checkpoint(tmp_path / "ckpt", model, "bin"))
    bb = load_backbone(f"org/{family}-ctc")
    assert bb.model.config.model_type == family
    assert bb.checkpoint.dropped and all(k.startswith("lm_head") for k in bb.checkpoint.dropped)
    for key, value in encoder_of(model).state_dict().items():
        torch.testing.assert_close(bb.model.state_dict()[key], value, rtol=0, atol=0)


def test_a_malicious_pickle_is_refused_with_the_file_named(hub, tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt", head_model("wav2vec2", "ForCTC"), "bin")
    sentinel = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    torch.save({"wav2vec2.masked_spec_embed": Payload()}, ckpt / "pytorch_model.bin")
    snapshot = place_in_hub(hub, "evil/wav2vec2", ckpt)
    with pytest.raises(EmocircError) as err:
        load_backbone("evil/wav2vec2")
    message = str(err.value)
    assert "\n" not in message and str(snapshot / "pytorch_model.bin") in message
    assert "posix.system" in message or "system" in message
    assert not sentinel.exists()
    # The command line: one line, exit 2, no traceback, nothing run.
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    import numpy as np
    import soundfile as sf

    wav_dir = tmp_path / "corpus"
    wav_dir.mkdir()
    sf.write(wav_dir / "a.wav", np.zeros(8000, np.float32), 16000)
    (wav_dir / "manifest.csv").write_text("path,label,speaker\na.wav,anger,s1\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "emocirc",
            "extract",
            str(wav_dir),
            "--out",
            str(tmp_path / "f.npz"),
            "--model",
            "evil/wav2vec2",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "refused to unpickle" in lines[0] and "pytorch_model.bin" in lines[0]
    assert not sentinel.exists()


def test_a_checkpoint_without_some_encoder_tensors_is_refused(hub, tmp_path):
    model = head_model("wav2vec2", "ForCTC")
    ckpt = write_checkpoint(tmp_path / "ckpt", model, "bin")
    state = legacy_state(model)
    del state["wav2vec2.encoder.layers.0.attention.k_proj.weight"]
    torch.save(state, ckpt / "pytorch_model.bin")
    place_in_hub(hub, "org/partial", ckpt)
    with pytest.raises(EmocircError, match=r"lacks 1 encoder tensor.*k_proj"):
        load_backbone("org/partial")


def test_a_directory_without_weights_is_named(hub, tmp_path):
    ckpt = write_checkpoint(tmp_path / "ckpt", head_model("wav2vec2", "ForCTC"), "bin")
    (ckpt / "pytorch_model.bin").unlink()
    with pytest.raises(
        EmocircError, match="no weights found; expected model.safetensors or pytorch_model.bin"
    ):
        load_backbone(ckpt)


def test_hub_cache_location_follows_the_documented_variables(monkeypatch, tmp_path):
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    assert checkpoints.hub_cache_dir() == Path.home() / ".cache" / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert checkpoints.hub_cache_dir() == tmp_path / "home" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "direct"))
    assert checkpoints.hub_cache_dir() == tmp_path / "direct"


def test_hub_id_through_hf_home_and_a_pinned_revision(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("EMOCIRC_CACHE", str(tmp_path / "emocirc-cache"))
    snapshot = place_in_hub(
        tmp_path / "home" / "hub",
        "org/enc",
        write_checkpoint(tmp_path / "c", head_model("wav2vec2", "ForCTC"), "bin"),
    )
    assert checkpoints.hub_snapshot("org/enc") == snapshot
    assert checkpoints.hub_snapshot("org/enc", revision=snapshot.name) == snapshot
    assert checkpoints.hub_snapshot("org/enc", revision="v2") is None
    assert load_backbone("org/enc").checkpoint.directory == str(snapshot)


def test_banner_records_the_weights_format_and_hash(hub, tmp_path):
    from emocirc.provenance import banner_text

    place_in_hub(
        hub,
        "facebook/wav2vec2-base",
        write_checkpoint(tmp_path / "c", head_model("wav2vec2", "ForCTC"), "bin"),
    )
    sha = hashlib.sha256(
        (checkpoints.hub_snapshot("facebook/wav2vec2-base") / "pytorch_model.bin").read_bytes()
    )
    text = banner_text({"EMODB": None}, "facebook/wav2vec2-base")
    assert "pytorch_model.bin" in text and sha.hexdigest()[:16] in text and "weights-only" in text


def test_banner_repeats_a_checkpoints_provenance_note(hub, tmp_path):
    from emocirc.provenance import banner_text

    folder = write_checkpoint(tmp_path / "c", head_model("wav2vec2", "ForCTC"), "bin")
    (folder / checkpoints.PROVENANCE_NOTE).write_text(
        json.dumps({"note": "a stand-in, not the published one"})
    )
    place_in_hub(hub, "facebook/wav2vec2-base", folder)
    text = banner_text({"EMODB": None}, "facebook/wav2vec2-base")
    assert "**a stand-in, not the published one**" in text
    # Without the note the banner says nothing of the kind; a damaged note is named.
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / checkpoints.PROVENANCE_NOTE).write_text("{not json")
    with pytest.raises(EmocircError, match=r"emocirc-provenance.json: unreadable provenance note"):
        checkpoints.read_provenance_note(tmp_path / "d")
