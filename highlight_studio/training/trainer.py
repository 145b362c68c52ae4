"""The unsupervised training loop as a generator of :class:`TrainEvent` (CLI: tqdm, GUI: plot).

Each step draws a batch of random windows, runs both branches (plus the masked auxiliary pass),
adds the switched-on losses and takes one optimizer step. Seeded runs on CPU are
deterministic; checkpoints written on the way are resumable. Under ``torchrun`` each process
trains on its share of every global batch and gradients are averaged (see :mod:`.distributed`);
only rank 0 writes checkpoints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ModelError
from ..events import CancelToken, PauseToken, check_cancel, wait_if_paused
from ..model.checkpoint import load_training_state, save_checkpoint
from ..model.description import CheckpointMeta, read_meta
from ..model.loss_terms import TERM_NAMES
from ..model.losses import LossTerms, total_loss
from ..model.rasl import RASL, RASLOutput
from ..model.ridge_head import RidgeHead
from . import diagnostics, distributed
from .datasets import FeatureDataset, WindowBatch
from .options import TrainOptions


@dataclass
class TrainEvent:
    """One logged step: every loss term (a field per row of ``LOSS_TERMS``), the total,
    collapse diagnostics and speed."""

    step: int
    total_steps: int
    recon: float
    kpoint: float
    scl: float
    aux: float
    spread: float
    axis: float
    total: float
    diagnostics: dict[str, float] = field(default_factory=dict)
    steps_per_sec: float = 0.0
    eta_seconds: float = 0.0
    checkpoint: Path | None = None  # set on the event whose step was just saved


def _optimizer(model: RASL, options: TrainOptions) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if options.optimizer == "adam":
        return torch.optim.Adam(params, lr=options.lr)
    return torch.optim.RMSprop(params, lr=options.lr)


def _available(name: str) -> torch.device:
    """The device asked for, or a message when this machine has none of that kind."""
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ModelError(f"{name!r} is not a device; use cpu, cuda or mps.") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelError("No CUDA GPU is available here; train with --device cpu.")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ModelError("Apple's MPS is not available here; train with --device cpu.")
    return device


def _restore_weights(model: RASL, state: dict[str, Any], path: str | Path) -> None:
    """The weights of the snapshot's own step. A state file written before it carried them
    is used only if the weights file is of the same step (a crash between the two renames
    would otherwise resume one step's optimizer on another step's weights)."""
    if "model" in state:
        model.load_state_dict(state["model"])
        return
    weights_step = read_meta(path).train_step
    if weights_step != int(state["step"]):
        raise ModelError(f"{path} holds the weights of step {weights_step} but its optimizer "
                         f"state is from step {state['step']}: the last checkpoint write was "
                         "cut short. Start a new run from it with --init instead.")


def _lr_factor(step: int, warmup: int) -> float:
    return min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0


def _losses(model: RASL, out: RASLOutput, batch: WindowBatch, device: torch.device
            ) -> LossTerms:
    """The batch's loss terms; a shard holding more or fewer audio windows than its share
    weights the audio branch's part of each term by ``batch.audio_weight`` (see WindowBatch)."""
    source = batch.source.to(device)
    axis_target = batch.axis_target.to(device) if batch.axis_target is not None else None
    losses = total_loss(model, out, source=source, axis_target=axis_target)
    if batch.audio_weight == 1.0 or out.audio is None:
        return losses
    visual = total_loss(model, replace(out, audio=None), source=source, axis_target=axis_target)
    terms = {name: visual.terms[name] + batch.audio_weight * (losses.terms[name]
                                                               - visual.terms[name])
             for name in TERM_NAMES}
    return LossTerms(total=sum(terms.values(), torch.zeros_like(losses.total)), terms=terms,
                     extras=losses.extras)


def _check_fits(model: RASL, dataset: FeatureDataset) -> None:
    config = model.config
    if dataset.visual_dim != config.visual_dim:
        raise ModelError(f"The model takes {config.visual_dim}-wide visual features but the "
                         f"training data has {dataset.visual_dim}.")
    # A ridge head is fitted on the teacher after training; one fitted already (a start model's)
    # is kept where the clips cannot carry its teacher (see finetune._finish).
    unfitted_ridge = isinstance(model.axis_head, RidgeHead) and not model.axis_head.fitted
    if (config.axis_weight > 0 or unfitted_ridge) and config.axis_teacher != dataset.axis_teacher:
        raise ModelError(f"The model learns the {config.axis_teacher} teacher's targets, which "
                         f"these clips do not carry ({dataset.axis_teacher}); joint_axis and "
                         "joint_norm need the motion stream: a benchmark folder's, or, for "
                         "videos, a model that reads visual+motion.")
    if config.use_audio and dataset.audio_dim not in (None, config.audio_dim):
        raise ModelError(f"The model takes {config.audio_dim}-wide audio features but the "
                         f"training data has {dataset.audio_dim}.")


def train(
    model: RASL,
    dataset: FeatureDataset,
    options: TrainOptions,
    cancel: CancelToken | None = None,
    resume_from: str | Path | None = None,
    pause: PauseToken | None = None,
    extra_term: Callable[[RASL, int], torch.Tensor] | None = None,
) -> Iterator[TrainEvent]:
    """Train ``model`` in place, yielding an event every ``log_every`` steps and at the end.

    ``resume_from`` continues a run from a checkpoint's saved weights, optimizer, RNG states
    and step (``<stem>.train.pt``, one consistent snapshot). Cancelling raises ``Cancelled``
    between steps; the last checkpoint written stays valid. ``pause`` holds the loop between
    steps (time paused is left out of the reported speed).

    In a torchrun process group, ``options.batch_size`` is the global batch: each rank trains
    on its rows of it, the events' losses are the ranks' mean, and only rank 0 saves.
    """
    _check_fits(model, dataset)
    config = model.config
    ranks = distributed.current()
    rows = distributed.shard_rows(options.batch_size, ranks) if ranks.distributed else None
    device = _available(distributed.device_for(options.device, ranks))
    model.to(device).train()
    torch.manual_seed(options.seed)
    rng = np.random.default_rng(options.seed)
    optimizer = _optimizer(model, options)
    start = 0
    saved = 0  # the step of the last checkpoint written (or resumed from)
    if resume_from is not None:
        state = load_training_state(resume_from)
        _restore_weights(model, state, resume_from)
        if state.get("optimizer_name", options.optimizer) != options.optimizer:
            raise ModelError(f"{resume_from} was trained with {state['optimizer_name']}; "
                             f"resume it with the same optimizer, not {options.optimizer}.")
        optimizer.load_state_dict(state["optimizer"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        start = saved = int(state["step"])
    params = [p for p in model.parameters() if p.requires_grad]
    if ranks.distributed:
        distributed.broadcast_weights(model)
    last_time, last_step = time.perf_counter(), start
    for step in range(start, options.steps):
        last_time += wait_if_paused(pause, cancel)
        check_cancel(cancel)
        for group in optimizer.param_groups:
            group["lr"] = options.lr * _lr_factor(step, options.warmup_steps)
        batch = dataset.sample(rng, options.batch_size, config.window,
                               with_axis=config.axis_weight > 0, rows=rows)
        visual = batch.visual.to(device)
        audio = batch.audio.to(device) if batch.audio is not None and config.use_audio else None
        mask = None
        if config.use_aux_task:  # drawn for the whole batch, as the windows are
            drawn = rng.random((options.batch_size, config.window)) < config.mask_ratio
            mask = torch.from_numpy(drawn[rows] if rows is not None else drawn).to(device)
        out = model(visual, audio, mask=mask, audio_rows=batch.audio_rows.to(device))
        losses = _losses(model, out, batch, device)
        finite = bool(torch.isfinite(losses.total))
        if ranks.distributed:  # one rank's NaN stops them all (the others would wait forever)
            finite = distributed.all_true(finite, device)
        if not finite:  # diverged: saving now would spoil the checkpoint
            kept = (f"the checkpoint at step {saved} is kept" if saved and
                    options.checkpoint_path else "nothing was saved")
            raise ModelError(f"Training diverged at step {step + 1} (the loss is not a number); "
                             f"{kept}. Lower the learning rate or add warm-up steps.")
        # Before kpoint_after, L_r is logged but not trained on (its params get no grad).
        objective = (losses.total_without("kpoint") if step < options.kpoint_after
                     else losses.total)
        extra = extra_term(model, step) if extra_term is not None else None
        if extra is not None:
            objective = objective + extra
        optimizer.zero_grad(set_to_none=True)
        if objective.requires_grad:  # every trained term switched off: nothing to learn yet
            objective.backward()
        if ranks.distributed:
            distributed.average_gradients(params)
        if options.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), options.grad_clip)
        optimizer.step()
        done = step + 1
        is_last = done == options.steps
        every = options.checkpoint_every
        saving = bool(options.checkpoint_path) and (is_last or bool(every and done % every == 0))
        if done % options.log_every and not (is_last or saving):
            continue
        now = time.perf_counter()
        rate = (done - last_step) / max(now - last_time, 1e-9)
        last_time, last_step = now, done
        logged = {name: float(losses.terms[name].detach()) for name in TERM_NAMES}
        logged["total"] = float(losses.total.detach())
        if ranks.distributed:  # every rank logs the same steps, so all join this
            logged = distributed.mean_over_ranks(logged, device)
        event = TrainEvent(
            step=done, total_steps=options.steps, **logged,
            diagnostics=diagnostics.collect(out, losses, visual, audio,
                                            batch.source.to(device)),
            steps_per_sec=rate, eta_seconds=(options.steps - done) / max(rate, 1e-9),
        )
        if extra is not None:
            event.diagnostics["decisions"] = float(extra.detach())
        if saving and ranks.is_main:
            event.checkpoint = _save(model, dataset, options, event, rng, optimizer, ranks)
        if saving:
            saved = done
        yield event


def _save(model: RASL, dataset: FeatureDataset, options: TrainOptions, event: TrainEvent,
          rng: np.random.Generator, optimizer: torch.optim.Optimizer,
          ranks: distributed.Ranks) -> Path:
    assert options.checkpoint_path is not None
    # How the run was spread: the global batch is options.batch_size whatever the world size.
    how = {"world_size": ranks.world_size, "global_batch": options.batch_size}
    meta = CheckpointMeta(
        config=model.config, backbone_id=options.backbone_id,
        step_seconds=options.step_seconds, audio_dim=dataset.audio_dim,
        training_data=dataset.summary(), training_options={**asdict(options), **how},
        seed=options.seed,
        train_step=event.step,
        final_losses={name: getattr(event, name) for name in (*TERM_NAMES, "total")},
        diagnostics=event.diagnostics, motion=options.motion,
    )
    state: dict[str, Any] = {
        "optimizer": optimizer.state_dict(), "optimizer_name": options.optimizer,
        "numpy_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(),
        "step": event.step, **how,
    }
    return save_checkpoint(options.checkpoint_path, model, meta, training_state=state)
