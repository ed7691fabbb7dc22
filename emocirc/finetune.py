"""Fine-tuning a wav2vec2-family encoder for four emotions: the seed's recipe, resumable.

The recipe is SpeechBrain's IEMOCAP one (``train_with_wav2vec2.yaml``), which
the seed followed: the encoder from :func:`emocirc.backbones.load_backbone`,
mean pooling over the valid frames of the last hidden layer, a linear head
without bias, log-softmax and negative log-likelihood; two Adam optimisers
(encoder 1e-5, head 1e-4) each annealed by NewBob on the validation error
(factor 0.9, improvement threshold 0.0025); batches of 4; gradient clipping;
the checkpoint with the lowest validation error is the one kept.  Every knob
is a field of :class:`FinetuneConfig`.

A finished run is a directory that every other step can load, laid out as
:mod:`emocirc.runs` describes (``metrics.json`` is written last: the run is
complete).

While it trains, ``OUT/checkpoint/`` holds the last completed epoch (model,
optimisers, schedulers, random state, log, best weights), replaced atomically
after every epoch; running the same call again resumes from it and ends with
the same metrics as an uninterrupted run.  The random state of each epoch is
derived from ``(seed, epoch)``, so resuming at an epoch boundary reproduces
the data order and dropout masks exactly.

The loop runs through Hugging Face ``accelerate``: on one CPU it is plain
deterministic PyTorch; on GPUs it uses bf16 autocast and fused Adam, and under
``accelerate launch -m emocirc finetune ...`` it runs distributed data
parallel: ``batch_size`` is per process, each step's global batch of
``batch_size x processes`` utterances is split over the processes (so 2
processes at batch 2 take the steps of 1 process at batch 4, up to padding
and dropout), the gradients are averaged, every process evaluates its share
of the validation batches (the same batches as one process: same metrics),
and the main process writes the checkpoints and the run
(``tests/test_distributed.py``).

Speed without changing the recipe: a frozen CNN runs through
:func:`emocirc.fast_forward.feature_encoder` (same result, no autograd record);
on CUDA the encoder's positional convolution is an FFT convolution with
gradients; the transformer layers run without Hugging Face's mask
handling (:func:`emocirc.fast_forward.run_encoder`), so attention keeps SDPA's
fused kernels; on one GPU ``cuda_graphs`` replays each step from a CUDA
graph (:class:`emocirc.train_step.TrainStep`), which pays off when batch shapes
repeat (``pad_multiple``), and ``compile`` compiles the layers for training
(:meth:`emocirc.classifier.EmotionClassifier.compiled_layers`).
Measurements: ``benchmarks/README.md``.

The pieces live in their own modules: the model in :mod:`emocirc.classifier`,
the training step in :mod:`emocirc.train_step`, NewBob in
:mod:`emocirc.schedulers`, the table, splits and batches in
:mod:`emocirc.training_data`, writing and reading run directories in
:mod:`emocirc.runs` and scoring a run in :mod:`emocirc.evaluation`.  This
module keeps the loop, written as the named steps of :class:`_SplitTraining`,
and re-exports the public names of the others.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from emocirc import __version__
from emocirc._io import default_cache_dir, file_lock, recover_dir, write_json, write_text
from emocirc.audio import SAMPLE_RATE, load_audio
from emocirc.backbones import PRETRAINED_BUILTINS, pretrained_key
from emocirc.classifier import EmotionClassifier, check_run, load_classifier, training_uses_fft
from emocirc.errors import EmocircError
from emocirc.evaluation import _resolve_device, evaluate, predict
from emocirc.finetune_config import MODES, FinetuneConfig, _digest
from emocirc.metrics import classification_summary
from emocirc.runs import (
    _CHECKPOINT,
    _cpu_state,
    _csv,
    _run_is_finished,
    _save_checkpoint,
    _sweep_leftovers,
    _write_run,
    read_log,
    read_metrics,
    summarize_folds,
)
from emocirc.schedulers import NewBob
from emocirc.splits import PROTOCOLS, Split, folds
from emocirc.train_step import TrainStep
from emocirc.training_data import (
    _batches,
    _collate,
    _process_batches,
    _select_splits,
    data_fingerprint,
    prepare_table,
)

__all__ = [
    "MODES",
    "PROTOCOLS",
    "EmotionClassifier",
    "FinetuneConfig",
    "NewBob",
    "Split",
    "TrainStep",
    "check_run",
    "data_fingerprint",
    "evaluate",
    "finetune",
    "finetune_cached",
    "folds",
    "load_classifier",
    "predict",
    "prepare_table",
    "read_log",
    "read_metrics",
    "summarize_folds",
    "training_uses_fft",
]

#: Bumped whenever training computes differently, so finished runs of older code are not reused.
_TRAINING_VERSION = "train-2"  # 2: frozen CNN through emocirc.features, FFT positional convolution on CUDA


def finetune(
    df: pd.DataFrame,
    config: FinetuneConfig,
    out: str | os.PathLike[str],
    split: Split | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
    on_epoch_end: Callable[[int, dict[str, Any]], None] | None = None,
) -> Path:
    """Fine-tune ``config.backbone`` on a corpus table; write (or resume) the run in ``out``.

    Parameters
    ----------
    df:
        Corpus table (:func:`emocirc.corpora.load_corpus`); restricted to
        ``config.labels`` with :func:`prepare_table`.
    config:
        Every hyper-parameter.
    out:
        Run directory. With ``config.fold == "all"`` each fold goes to
        ``out/<fold name>/`` and ``out/summary.json`` holds the mean and
        standard deviation of the test metrics.
    split:
        A partition given by hand (indices into the table after
        :func:`prepare_table`); default: :func:`emocirc.splits.folds` of
        ``config.protocol`` and ``config.fold``.
    progress:
        Show a progress bar over the batches of each epoch.
    log:
        Called with one line per epoch (e.g. ``print``).
    on_epoch_end:
        Called with ``(epoch, row)`` after each epoch's checkpoint is saved.

    Returns
    -------
    pathlib.Path
        ``out``. A finished run with the same configuration and data is returned
        as is; an unfinished one is resumed from its last completed epoch.
    """
    out = Path(out)
    table = prepare_table(df, config.labels)
    if split is not None:
        return _SplitTraining(table, config, split, out, progress, log, on_epoch_end).run()
    splits = _select_splits(table, config)
    if config.fold != "all":
        return _SplitTraining(table, config, splits[0], out, progress, log, on_epoch_end).run()
    results = {}
    for sp in splits:
        run = _SplitTraining(table, config, sp, out / sp.name, progress, log, on_epoch_end).run()
        results[sp.name] = json.loads((run / "metrics.json").read_text())["test"]
    write_json(out / "summary.json", summarize_folds(results, config))
    return out


def finetune_cached(
    corpus_root: str | os.PathLike[str] | None,
    config: FinetuneConfig,
    cache_dir: str | os.PathLike[str] | None = None,
    format: str = "auto",
    *,
    scale: float = 1.0,
    skip_bad: bool = False,
    progress: bool = False,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Fine-tune once per (data, configuration); later calls return the finished run.

    Runs live in ``<cache>/runs/<hash>/`` with ``<cache>`` = ``cache_dir`` or
    :func:`emocirc._io.default_cache_dir`. An interrupted run is resumed;
    concurrent callers of one run wait for it under a file lock.

    Parameters
    ----------
    corpus_root:
        Corpus directory read by :func:`emocirc.corpora.load_corpus`; ``None``
        means the embedded synthetic IEMOCAP (:func:`emocirc.synth.ensure_corpus`).
    config:
        The run's hyper-parameters.
    format:
        Corpus layout (``auto``, ``iemocap``, ``emodb``, ``csv``).
    scale:
        Size of the synthetic corpus when ``corpus_root`` is ``None``.
    skip_bad:
        Leave out damaged audio files (recorded in the run's
        ``training_config.json``) instead of stopping, naming them.
    """
    from emocirc.corpora import load_corpus

    if corpus_root is None:
        from emocirc.synth import ensure_corpus

        corpus_root = ensure_corpus("iemocap", seed=config.seed, scale=scale, cache_dir=cache_dir)
    df = load_corpus(corpus_root, format=format, four_class=True, skip_bad=skip_bad)
    key = _digest(config.hash() + data_fingerprint(prepare_table(df, config.labels)) + _TRAINING_VERSION)
    if config.backbone in PRETRAINED_BUILTINS:
        # A pre-trained built-in is named, not hashed, by the configuration: its weights' key joins the run's.
        key = _digest(key + pretrained_key(config.backbone))
    runs = (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / "runs"
    # One trainer per run: a second caller (another chapter, shell or test worker)
    # waits, then finds the run finished instead of resuming it under the first's feet.
    with file_lock(runs / f".{key}.lock"):
        return finetune(df, config, runs / key, progress=progress, log=log)


class _SplitTraining:
    """One fine-tuning run on one split, as named steps (after SpeechBrain's ``Brain`` hooks).

    :meth:`run` calls the steps in order: :meth:`validate_split`,
    :meth:`reuse_finished`, :meth:`build_accelerator`, :meth:`build_model`,
    :meth:`build_optimisers`, :meth:`resume`, :meth:`load_waveforms`,
    :meth:`build_train_step`, then for each epoch :meth:`fit_epoch`,
    :meth:`evaluate` (validation), :meth:`anneal` and :meth:`checkpoint`, and
    at the end :meth:`write_run`.  Each step reads and sets attributes of the
    instance; the order is the one that makes the random draws, and so the
    run, reproducible.
    """

    def __init__(
        self,
        table: pd.DataFrame,
        config: FinetuneConfig,
        split: Split,
        out: Path,
        progress: bool,
        log: Callable[[str], None] | None,
        on_epoch_end: Callable[[int, dict[str, Any]], None] | None,
    ) -> None:
        self.table, self.config, self.split, self.out = table, config, split, out
        self.progress, self.on_epoch_end = progress, on_epoch_end
        # Under `accelerate launch` one process speaks (RANK is set before any process group exists).
        self.say = log if log is not None and int(os.environ.get("RANK", "0")) == 0 else (lambda _msg: None)
        self.ckpt = out / _CHECKPOINT

    def run(self) -> Path:
        """Train (or resume, or reuse) the run and write it; return its directory."""
        self.validate_split()
        if self.reuse_finished():
            return self.out
        self.build_accelerator()
        self.build_model()
        self.build_optimisers()
        self.resume()
        self.load_waveforms()
        self.build_train_step()
        config = self.config
        for epoch in range(self.start_epoch + 1, config.epochs + 1):
            tic = time.perf_counter()
            train_loss = self.fit_epoch(epoch)
            valid_loss, valid = self.evaluate("valid")
            valid_error = 1.0 - valid["weighted_accuracy"]
            row = {
                "epoch": epoch,
                "train_loss": train_loss,
                "valid_loss": valid_loss,
                "valid_error": valid_error,
                "valid_wa": valid["weighted_accuracy"],
                "valid_ua": valid["unweighted_recall"],
                "valid_f1": valid["macro_f1"],
                "lr_backbone": self.sched_encoder.value if self.opt_encoder is not None else 0.0,
                "lr_head": self.sched_head.value,
                "seconds": time.perf_counter() - tic,
            }
            self.rows.append(row)
            self.anneal(valid_error)
            improved = self.checkpoint(epoch, valid_error)
            self.say(
                f"epoch {epoch}/{config.epochs}  train loss {row['train_loss']:.4f}  valid loss {valid_loss:.4f}  "
                f"valid WA {valid['weighted_accuracy']:.3f} UA {valid['unweighted_recall']:.3f}  "
                f"lr {row['lr_backbone']:.2e}/{row['lr_head']:.2e}  {row['seconds']:.1f}s"
                + ("  *" if improved else "")
            )
            if self.on_epoch_end is not None:
                self.on_epoch_end(epoch, row)
        self.write_run()
        return self.out

    def validate_split(self) -> None:
        """Check the split's index sets against the table; derive the run's hashes.

        Sets ``parts`` (name -> indices), ``data_hash`` and ``run_hash``.
        """
        split, table, config = self.split, self.table, self.config
        parts = {
            name: np.asarray(getattr(split, name), dtype=np.int64) for name in ("train", "valid", "test")
        }
        for name, idx in parts.items():
            if idx.size == 0 and name != "test":
                raise EmocircError(
                    f"split {split.name!r} has an empty {name} set: expected utterances in train and valid"
                )
            if idx.size and (idx.min() < 0 or idx.max() >= len(table)):
                raise EmocircError(
                    f"split {split.name!r}: {name} index out of range for a table of {len(table)} rows"
                )
        absent = sorted(set(table["label"].iloc[parts["train"]]) ^ set(config.labels))
        if absent:
            self.say(f"warning: training set of {split.name} lacks {absent}")
        self.parts = parts
        self.data_hash = data_fingerprint(table)
        split_hash = _digest(json.dumps({k: v.tolist() for k, v in parts.items()}))
        self.run_hash = _digest(config.hash() + self.data_hash + split_hash + _TRAINING_VERSION)

    def reuse_finished(self) -> bool:
        """Whether ``out`` already holds this finished run (its checkpoint, if any, is then removed)."""
        if not _run_is_finished(self.out, self.run_hash):
            return False
        shutil.rmtree(self.ckpt, ignore_errors=True)
        self.say(f"{self.out}: finished run found, reused")
        return True

    def build_accelerator(self) -> None:
        """Choose device and precision; make the ``accelerate`` Accelerator (one process or DDP)."""
        from accelerate import Accelerator
        from accelerate.utils import AutocastKwargs, DistributedDataParallelKwargs

        config = self.config
        self.device = device = _resolve_device(config.device)
        precision = config.mixed_precision
        if precision == "auto":
            precision = "bf16" if device.startswith("cuda") else "no"
        self.precision = precision
        self.want_graphs = config.cuda_graphs and device.startswith("cuda") and precision != "fp16"
        handlers: list[Any] = [DistributedDataParallelKwargs(find_unused_parameters=True)]
        if self.want_graphs:
            # Autocast's cache of cast weights must not be kept across a graph capture.
            handlers.append(AutocastKwargs(cache_enabled=False))
        self.accelerator = Accelerator(
            cpu=device == "cpu", mixed_precision=precision, kwargs_handlers=handlers
        )

    def build_model(self) -> None:
        """Load the backbone, apply the run's encoder settings, seed, make the classifier, freeze by mode."""
        from emocirc.backbones import load_backbone

        config = self.config
        self.backbone = backbone = load_backbone(config.backbone, device="cpu")
        encoder = backbone.model
        self.saved_encoder_settings = {
            "apply_spec_augment": encoder.config.apply_spec_augment,
            "layerdrop": encoder.config.layerdrop,
        }
        encoder.config.apply_spec_augment = config.spec_augment
        encoder.config.layerdrop = config.layerdrop
        torch.manual_seed(config.seed)
        self.model = EmotionClassifier(encoder, config.labels, backbone.do_normalize)
        if config.mode == "partial":
            encoder.freeze_feature_encoder()
        elif config.mode == "frozen":
            encoder.requires_grad_(False)

    def build_optimisers(self) -> None:
        """The two Adam optimisers (head; trainable encoder part, if any) and their NewBob schedules."""
        config, device, model = self.config, self.device, self.model
        encoder_params = [p for p in model.encoder.parameters() if p.requires_grad]
        # fp16 loss scaling checks for inf on the host; several processes synchronise gradients.
        self.graphs = graphs = self.want_graphs and self.accelerator.num_processes == 1
        if config.cuda_graphs and not graphs:
            self.say(
                "note: cuda_graphs needs one CUDA process and bf16 or no mixed precision; running eagerly"
            )
        # On CUDA one fused kernel per step instead of a few per parameter group.
        adam = {"capturable": graphs, **({"fused": True} if device.startswith("cuda") else {})}
        self.opt_head = torch.optim.Adam(model.head.parameters(), lr=config.lr_head, **adam)
        self.opt_encoder = (
            torch.optim.Adam(encoder_params, lr=config.lr_backbone, **adam) if encoder_params else None
        )
        self.sched_head = NewBob(
            config.lr_head, config.annealing_factor, config.improvement_threshold, config.patience
        )
        self.sched_encoder = NewBob(
            config.lr_backbone, config.annealing_factor, config.improvement_threshold, config.patience
        )

    def resume(self) -> None:
        """Start from the last completed epoch in ``out/checkpoint``, if any.

        Sets ``start_epoch``, ``rows`` (the log so far) and ``best`` (error,
        epoch and weights of the best epoch so far).
        """
        self.start_epoch, self.rows = 0, []
        self.best: dict[str, Any] = {"error": math.inf, "epoch": 0, "state": None}
        ckpt = self.ckpt
        # A kill between the two renames that replace the checkpoint leaves the previous one aside:
        # put it back (the new one, a ``.partial`` sibling, may be half-written and is never used).
        recover_dir(ckpt, lambda p: (p / "state.pt").is_file())
        if not (ckpt / "state.pt").is_file():
            return
        state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=True)
        if state["run_hash"] != self.run_hash:
            raise EmocircError(
                f"{ckpt} belongs to another configuration or data (run hash {state['run_hash']}, expected "
                f"{self.run_hash}): choose another --out or delete it"
            )
        self.model.load_state_dict(state["model"])
        self.opt_head.load_state_dict(state["opt_head"])
        if self.opt_encoder is not None:
            self.opt_encoder.load_state_dict(state["opt_encoder"])
        self.sched_head.load_state_dict(state["sched_head"])
        self.sched_encoder.load_state_dict(state["sched_encoder"])
        torch.set_rng_state(state["torch_rng"])
        self.start_epoch, self.rows = int(state["epoch"]), list(state["rows"])
        self.best = {
            "error": float(state["best_error"]),
            "epoch": int(state["best_epoch"]),
            "state": torch.load(ckpt / "best.pt", map_location="cpu", weights_only=True),
        }
        self.say(f"resuming {self.out} after epoch {self.start_epoch}")

    def load_waveforms(self) -> None:
        """Load every waveform of the split once (corpora here are small); the targets as indices."""
        table = self.table
        needed = np.unique(np.concatenate(list(self.parts.values())))
        self.waves = {int(i): load_audio(str(table["path"].iloc[i])) for i in needed}
        self.lengths = {
            name: np.array([len(self.waves[int(i)]) for i in idx]) for name, idx in self.parts.items()
        }
        labels_index = {lab: i for i, lab in enumerate(self.config.labels)}
        self.y_all = np.array([labels_index[lab] for lab in table["label"]])

    def build_train_step(self) -> None:
        """Hand model and optimisers to the Accelerator; make the :class:`TrainStep`."""
        config, accelerator = self.config, self.accelerator
        if self.opt_encoder is not None:
            self.model, self.opt_head, self.opt_encoder = accelerator.prepare(
                self.model, self.opt_head, self.opt_encoder
            )
        else:
            self.model, self.opt_head = accelerator.prepare(self.model, self.opt_head)
        self.unwrapped = accelerator.unwrap_model(self.model)
        self.unwrapped.compile_layers = config.compile
        self.crop = int(config.crop_seconds * SAMPLE_RATE) if config.crop_seconds else None
        self.pad = int(round(config.pad_multiple * SAMPLE_RATE))
        optimizers = [opt for opt in (self.opt_head, self.opt_encoder) if opt is not None]
        self.train_step = TrainStep(
            self.model,
            [getattr(opt, "optimizer", opt) for opt in optimizers] if self.graphs else optimizers,
            config.max_grad_norm,
            {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision),
            backward=accelerator.backward,
            clip=accelerator.clip_grad_norm_,
            graphs=self.graphs,
        )
        self.n_proc, self.rank = accelerator.num_processes, accelerator.process_index

    def fit_epoch(self, epoch: int) -> float:
        """Train one epoch on this process's share of the shuffled batches; return the mean training loss.

        The random state is derived from ``(seed, epoch)``, so a resumed run
        draws the same batches and dropout masks as an uninterrupted one.
        """
        config, accelerator, train_step = self.config, self.accelerator, self.train_step
        n_proc, rank = self.n_proc, self.rank
        epoch_seed = config.seed * 100_003 + epoch
        # Dropout and time masks differ between processes (one process: the seed as always).
        torch.manual_seed(epoch_seed + 7_919 * rank)
        rng = np.random.default_rng(epoch_seed)
        mine = _process_batches(
            _batches(self.lengths["train"], config.batch_size * n_proc, rng, config.bucket), rank, n_proc
        )
        self.model.train()
        if config.mode == "frozen":
            self.unwrapped.encoder.eval()
        bar = _progress(mine, f"epoch {epoch}/{config.epochs}", self.progress and accelerator.is_main_process)
        for number, batch in enumerate(bar):
            idx = self.parts["train"][batch]
            wav, lens = _collate([self.waves[int(i)] for i in idx], rng, self.crop, self.pad)
            train_step(wav, lens, torch.as_tensor(self.y_all[idx]))
            if hasattr(bar, "set_postfix") and number % 20 == 0:
                bar.set_postfix(loss=f"{train_step.mean_loss(reset=False):.3f}")  # reads the device
        train_loss = train_step.mean_loss()
        if n_proc > 1:  # the mean over every process's batches (each takes as many)
            train_loss = float(
                accelerator.reduce(torch.tensor(train_loss, device=accelerator.device), "mean")
            )
        if self.graphs:
            self.say(f"epoch {epoch}: {train_step.num_graphs} batch shapes replayed from CUDA graphs")
        return train_loss

    def evaluate(self, name: str) -> tuple[float, dict[str, Any]]:
        """Mean loss and :func:`emocirc.metrics.classification_summary` of one part (``valid``, ``test``)."""
        config, accelerator, unwrapped = self.config, self.accelerator, self.unwrapped
        n_proc, rank, y_all = self.n_proc, self.rank, self.y_all
        idx = self.parts[name]
        unwrapped.eval()
        done = []  # (start, loss sum, utterances, predictions) of each batch evaluated here
        order = np.argsort(self.lengths[name], kind="stable")
        # The same batches as one process would evaluate, dealt out to the processes:
        # every utterance is padded as in a one-process run, so the metrics are the same.
        with torch.no_grad(), accelerator.autocast():
            for start in range(0, len(idx), config.eval_batch_size)[rank::n_proc]:
                chunk = idx[order[start : start + config.eval_batch_size]]
                wav, lens = _collate([self.waves[int(i)] for i in chunk], None, None)
                logp = unwrapped(wav.to(accelerator.device), lens.to(accelerator.device)).float()
                target = torch.as_tensor(y_all[chunk], device=logp.device)
                loss = torch.nn.functional.nll_loss(logp, target, reduction="sum").item()
                done.append((start, loss, chunk, logp.argmax(dim=-1).cpu().numpy()))
        if n_proc > 1:
            everyone: list[Any] = [None] * n_proc
            torch.distributed.all_gather_object(everyone, done)
            done = sorted((entry for part in everyone for entry in part), key=lambda entry: entry[0])
        losses = [loss for _, loss, _, _ in done]
        pred = np.empty(len(self.table), dtype=np.int64)
        for _, _, chunk, p in done:
            pred[chunk] = p
        names = np.array(config.labels, dtype=object)
        summary = classification_summary(names[y_all[idx]], names[pred[idx]], config.labels)
        return float(np.sum(losses) / max(1, len(idx))), summary

    def anneal(self, valid_error: float) -> None:
        """NewBob sets the learning rates of the next epoch from this epoch's validation error."""
        for sched, opt in ((self.sched_head, self.opt_head), (self.sched_encoder, self.opt_encoder)):
            lr = sched.step(valid_error)
            if opt is not None and any(group["lr"] != lr for group in opt.param_groups):
                for group in opt.param_groups:
                    group["lr"] = lr
                self.train_step.learning_rates_changed()

    def checkpoint(self, epoch: int, valid_error: float) -> bool:
        """Keep the best weights; save the epoch's checkpoint and log (main process); return whether it improved."""
        weights = _cpu_state(
            self.unwrapped
        )  # one device-to-host copy, for the checkpoint and the best weights
        improved = valid_error < self.best["error"]
        if improved:
            self.best = {"error": valid_error, "epoch": epoch, "state": weights}
        if self.accelerator.is_main_process:
            _save_checkpoint(
                self.ckpt,
                {
                    "run_hash": self.run_hash,
                    "epoch": epoch,
                    "rows": self.rows,
                    "model": weights,
                    "opt_head": self.opt_head.state_dict(),
                    "opt_encoder": self.opt_encoder.state_dict() if self.opt_encoder is not None else {},
                    "sched_head": self.sched_head.state_dict(),
                    "sched_encoder": self.sched_encoder.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "best_error": self.best["error"],
                    "best_epoch": self.best["epoch"],
                },
                self.best["state"],
            )
            write_text(self.out / "log.csv", _csv(self.rows))
        self.accelerator.wait_for_everyone()
        return improved

    def write_run(self) -> None:
        """Reload the best epoch's weights, score valid and test, write the finished run (main process)."""
        unwrapped, table, config, best = self.unwrapped, self.table, self.config, self.best
        # The kept model is the one with the lowest validation error.
        if best["state"] is not None:
            unwrapped.load_state_dict(best["state"])
        _valid_loss, valid = self.evaluate("valid")
        test = self.evaluate("test")[1] if self.parts["test"].size else None
        if self.accelerator.is_main_process:
            for key, value in self.saved_encoder_settings.items():
                setattr(unwrapped.encoder.config, key, value)
            _write_run(
                self.out,
                unwrapped,
                self.backbone,
                config,
                {
                    "run_hash": self.run_hash,
                    "data_hash": self.data_hash,
                    "split": self.split.name,
                    "sizes": {k: int(v.size) for k, v in self.parts.items()},
                    "corpus": {k: str(v) for k, v in table.attrs.items() if k in ("format", "root")},
                    "skipped": [str(s) for s in table.attrs.get("skipped", [])],  # left out by skip_bad
                    "backbone_fingerprint": self.backbone.fingerprint,
                    "emocirc_version": __version__,
                },
                {
                    "split": self.split.name,
                    "best_epoch": best["epoch"],
                    "epochs": config.epochs,
                    "valid": valid,
                    "test": test,
                },
                self.rows,
            )
            shutil.rmtree(self.ckpt, ignore_errors=True)
            _sweep_leftovers(self.out)
        self.accelerator.wait_for_everyone()


def _progress(items: list, desc: str, enabled: bool):
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc, leave=False, unit="batch")
