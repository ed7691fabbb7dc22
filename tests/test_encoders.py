"""Tests of emocirc.encoders: one configuration for every chapter, and the encoder a chapter asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

import emocirc.finetune
from emocirc.encoders import BOOK_FINETUNE, chapter_encoder, finetune_config
from emocirc.errors import EmocircError


def test_book_settings_are_overridden_key_by_key():
    base = finetune_config("tiny-pretrained")
    assert base.epochs == BOOK_FINETUNE["epochs"] and base.lr_backbone == BOOK_FINETUNE["lr_backbone"]
    changed = finetune_config("tiny-pretrained", {"pad_multiple": 0.5})
    assert changed.pad_multiple == 0.5 and changed.epochs == base.epochs and changed.hash() != base.hash()
    # The chapter's own parameters are not smuggled in through the shared settings.
    with pytest.raises(EmocircError, match="chapter's own seed"):
        finetune_config("tiny", {"seed": 3})
    with pytest.raises(EmocircError, match="expected keys of FinetuneConfig"):
        finetune_config("tiny", {"epoch": 3})


def test_chapter_encoder_fine_tunes_once_with_the_shared_configuration(monkeypatch, tmp_path):
    calls = []

    def fake(root, config, progress=False, skip_bad=False):
        calls.append((root, config.hash()))
        return tmp_path / "run"

    monkeypatch.setattr(emocirc.finetune, "finetune_cached", fake)
    tuned = chapter_encoder("CORPUS", "finetuned", backbone="tiny", finetune={"epochs": 2}, seed=1)
    assert tuned.finetuned and tuned.run == tmp_path / "run" and str(tuned) == str(tmp_path / "run")
    assert calls == [("CORPUS", finetune_config("tiny", {"epochs": 2}, seed=1).hash())]
    plain = chapter_encoder("CORPUS", "pretrained", backbone="tiny-pretrained")
    assert not plain.finetuned and str(plain) == "tiny-pretrained" and Path(plain) == Path("tiny-pretrained")
    assert len(calls) == 1
    with pytest.raises(EmocircError, match="features_from"):
        chapter_encoder("CORPUS", "random", backbone="tiny")
