"""``highlight-studio fit-head``: give a trained model the ``ridge`` axis head, fitted in
closed form on a feature folder's label-free teacher targets.

    highlight-studio fit-head --features DIR --init MODEL --out OUT.safetensors
        [--axis-teacher joint_axis] [--clip-readout activation] [--ridge 0.1] [--context K]
        [--fp16] [--overwrite]

The model's weights stay as they are; the head (a linear scorer of each step's per-stream unit
input, :mod:`highlight_studio.training.ridge_head`) is fitted on every clip of the folder and
then gives the score, so inference still reads only the visual (and motion) inputs. Labels are
never read: the folder's features give the teacher's targets. Seconds, not a training run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from ..errors import ModelError
from ..model.config import AXIS_TEACHERS, CLIP_READOUT


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit-head", help="fit a model's ridge axis head on a feature folder, without labels",
        description="Fit the ridge axis head of a trained model in closed form on the "
                    "teacher targets of a benchmark-format feature folder (labels are never "
                    "read); the head then gives the model's score.")
    p.add_argument("--features", type=Path, required=True,
                   help="benchmark-format folder (visual/, and motion/ for visual+motion)")
    p.add_argument("--init", required=True, help="the trained model (path or name)")
    p.add_argument("--out", "-o", type=Path, required=True, help="checkpoint to write")
    p.add_argument("--axis-teacher", choices=AXIS_TEACHERS, default=None,
                   help="the targets (default: the model's teacher); joint_axis = the main "
                        "axis of the visual and motion streams together, joint_norm = their "
                        "summed z-scored norms")
    p.add_argument("--clip-readout", choices=CLIP_READOUT, default=None,
                   help="how the model's curves are read (default: the model's own)")
    p.add_argument("--ridge", type=float, default=None,
                   help="ridge per training step (default 0.1, the measured setting)")
    p.add_argument("--context", type=int, default=None,
                   help="neighbours on each side whose mean input the head also reads "
                        "(default: the model's, 0 for a model without a ridge head)")
    p.add_argument("--fp16", action="store_true", help="write the weights in float16")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..features.corpus import read_description
    from ..model.checkpoint import load_checkpoint, save_checkpoint
    from ..model.description import check_compatible
    from ..model.rasl import with_config
    from ..training.datasets import FeatureDataset
    from ..training.ridge_head import RIDGE_PER_STEP, fit_ridge_head, with_fit

    out = args.out if args.out.suffix == ".safetensors" else Path(f"{args.out}.safetensors")
    if out.exists() and not args.overwrite:
        raise ModelError(f"{out} exists already; --overwrite replaces it, or give another "
                         "--out.")
    trained, meta = load_checkpoint(args.init)
    config = dataclasses.replace(trained.config, axis_head="ridge",
                                 axis_teacher=args.axis_teacher or trained.config.axis_teacher,
                                 clip_readout=args.clip_readout or trained.config.clip_readout,
                                 ridge_context=trained.config.ridge_context
                                 if args.context is None else args.context)
    model = with_config(trained, config)
    made_by = read_description(args.features)
    if made_by and made_by.get("backbone_id"):  # a folder made from clips says by what
        check_compatible(meta, str(made_by["backbone_id"]), config.visual_dim,
                         float(made_by.get("step_seconds") or 0.0))
    dataset = FeatureDataset.from_benchmark(args.features, config.visual_inputs,
                                            config.axis_teacher)
    fit = fit_ridge_head(model, dataset, RIDGE_PER_STEP if args.ridge is None else args.ridge)
    fitted = dataclasses.replace(
        meta, config=config, diagnostics=with_fit(meta.diagnostics, fit),
        training_data={**meta.training_data,
                       "ridge_head_fitted_on": args.features.resolve().name,
                       "ridge_head_clips": len(dataset)})
    path = save_checkpoint(out, model, fitted, fp16=args.fp16)
    print(json.dumps({"checkpoint": str(path), **fit}, indent=2))
    return 0
