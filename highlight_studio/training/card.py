"""The Markdown model card written beside every finished model: the clips it was trained on,
its options and settings, final losses, diagnostics, time and machine. Torch-free."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any

from ..model.description import CheckpointMeta
from ..model.loss_terms import SWITCHABLE
from .runs import FineTuneRequest


def card_path(checkpoint: Path) -> Path:
    """``<stem>.card.md``: generated, so it never overwrites a hand-written ``<stem>.md``."""
    return checkpoint.with_name(checkpoint.name.removesuffix(".safetensors") + ".card.md")


def model_card(name: str, meta: CheckpointMeta, request: FineTuneRequest,
               train_seconds: float) -> str:
    """The Markdown card of a trained model: data, options, final losses, time, machine."""
    data = meta.training_data
    step = meta.step_seconds
    rows = [f"| {n} | {_length(s, step)} | {'yes' if a else 'no (visual losses only)'} |"
            for n, s, a in zip(data["names"], data["lengths"], data["audio"], strict=True)]
    start = (f"Unsupervised RASL pretraining continued from **{request.init}**" if request.init
             else "A RASL model trained from scratch without labels")
    total = _length(data["steps"], step)
    opts = meta.training_options
    config = meta.config
    lines = [
        f"# Model card: `{name}`", "",
        f"{start}, on {data['clips']} clips ({data['clips_with_audio']} with audio) of "
        f"{total}. " + (f"Also trained to rank the steps kept above those rejected in profile "
                        f"**{request.profile}** (the editor's decisions)." if request.profile
                        else "No labels exist or were used."), "",
        "## Data", "", "| clip | length | audio |", "|---|---|---|", *rows, "",
        f"Total: {total}, {data['steps']} steps of {step:g} s. Clips without audio train the "
        "visual losses only.", "",
        "## Options", "",
        f"- steps {meta.train_step} of {opts.get('steps')}, lr {opts.get('lr')}, batch "
        f"{opts.get('batch_size')}{_spread(opts)}, optimizer {opts.get('optimizer')}, seed "
        f"{opts.get('seed')}",
        f"- k {config.k}, mask ratio {config.mask_ratio}, window {config.window} steps, losses: "
        + ", ".join(term.name for term in SWITCHABLE if term.is_on(config))
        + ("" if config.use_recon_loss else " (no reconstruction)"),
        f"- clip readout `{config.clip_readout}` (how a clip's curve is read at inference)",
        f"- main-axis self-training weight {config.axis_weight:g}"
        + (" (off)" if config.axis_weight == 0 else
           f" (teacher `{config.axis_teacher}`, learnt by the `{config.axis_head}` head: "
           "targets from each clip's own features)"),
        f"- features: `{meta.backbone_id}`, one every {step:g} s; the visual branch reads "
        f"`{config.visual_inputs}`",
        f"- device {opts.get('device')} ({platform.machine()}, {platform.system()}); training "
        f"time {_minutes(train_seconds)} (m:ss, pauses not counted)", "",
        "## Final losses", "", _table(meta.final_losses), "",
        "## Diagnostics at the last step", "", _table(meta.diagnostics), "",
        f"Inputs given: {', '.join(request.inputs) or '(features in memory)'}", "",
    ]
    return "\n".join(lines)


def _spread(options: dict[str, Any]) -> str:
    """How many processes shared each batch (torchrun), when more than one did."""
    world = int(options.get("world_size", 1))
    if world == 1:
        return " in one process"
    return (f" (the global batch) over {world} processes, {options['batch_size'] // world} "
            "windows each")


def _minutes(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def _length(steps: int, step_seconds: float) -> str:
    """m:ss, or a step count for features whose step in seconds was not recorded."""
    return f"{_minutes(steps * step_seconds)} min" if step_seconds > 0 else f"{steps} steps"


def _table(values: dict[str, float]) -> str:
    return "\n".join(["| name | value |", "|---|---|",
                      *(f"| {k} | {v:.4f} |" for k, v in values.items())])
