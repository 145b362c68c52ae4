"""The models in models/ load by name, say what they were trained on, and did not collapse.

METHOD.md's collapse signs, checked on the diagnostics each checkpoint recorded at its last
training step: s the same everywhere, r the same for every step, SA swamping its input.
"""

from __future__ import annotations

import pytest

from highlight_studio.features.motion import DEFAULT_MOTION
from highlight_studio.features.visual import DEFAULT_BACKBONE
from highlight_studio.model.config import BENCHMARK_WINDOW
from highlight_studio.model.description import read_meta, resolve_checkpoint

SHIPPED = {
    # name: (backbone id prefix, visual width, window, seconds per step)
    # frame features and the app's motion stream side by side
    "default": (DEFAULT_BACKBONE, 1280 + DEFAULT_MOTION.dim, 150, 0.2),
    # I3D RGB and flow side by side (visual_inputs="visual+motion")
    "rasl-yth-i3d": ("features:", 2048, BENCHMARK_WINDOW, 0.0),
}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_model_describes_itself_and_did_not_collapse(name: str) -> None:
    backbone, width, window, step = SHIPPED[name]
    path = resolve_checkpoint(name)
    assert path.name == f"{name}.safetensors" and path.parent.name == "models"
    meta = read_meta(name)
    assert meta.backbone_id.startswith(backbone)
    assert meta.visual_dim == width and meta.config.window == window
    assert meta.step_seconds == step
    assert meta.train_step == meta.training_options["steps"]  # a finished run, not a stop
    d = meta.diagnostics
    assert d["visual_s_std"] > 0.05  # s spread within windows (collapse: ~0)
    assert d["visual_r_cos"] < 0.95  # steps' representations differ (collapse: >= 0.998)
    assert d["visual_sa_ratio"] < 2.0  # SA bounded (collapse: 18-51x its input)


def test_shipped_readouts() -> None:
    """Both models read the ridge head's own score: held out on yth-train it beat the main
    axis it orients (cross_fit_ridge.md)."""
    assert read_meta("rasl-yth-i3d").config.clip_readout == "activation"
    assert read_meta("default").config.clip_readout == "activation"


def test_benchmark_model_recipe() -> None:
    """The benchmark model is session 8's recipe: the joint visual+motion axis fitted in
    closed form by a ridge head on both streams (the recipe that held out best, BENCHMARKS.md),
    on top of session 7's trained weights."""
    meta = read_meta("rasl-yth-i3d")
    config = meta.config
    assert (config.visual_inputs, config.axis_teacher, config.axis_head) == (
        "visual+motion", "joint_axis", "ridge")
    assert meta.diagnostics["ridge_head_steps"] == meta.training_data["steps"]


def test_default_model_recipe() -> None:
    """The app's model is session 11's recipe (models/default.md): a ridge head with +-1 s of
    context over the frames' features and the app's motion stream, fitted on the joint-norm
    teacher (the joint axis follows motion alone on these features), with the motion
    settings analysis must use recorded."""
    meta = read_meta("default")
    config = meta.config
    assert (config.visual_inputs, config.axis_teacher, config.axis_head) == (
        "visual+motion", "joint_norm", "ridge")
    assert config.ridge_context * meta.step_seconds == pytest.approx(1.0)
    assert meta.motion == DEFAULT_MOTION.as_dict()
    assert meta.diagnostics["ridge_head_steps"] == meta.training_data["steps"]
    assert meta.diagnostics["ridge_head_teacher_corr"] > 0.3
