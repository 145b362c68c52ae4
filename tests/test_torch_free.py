"""Analysis on the CPU without torch: the shipped ONNX graphs (backbone and RASL visual branch)
give the PyTorch path's curve, a process that cannot import torch still analyses a clip, and a
stale or missing graph falls back to PyTorch."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from clipgen import ClipSpec, write_clip

from highlight_studio.errors import ModelError
from highlight_studio.features.extract import ClipFeatures, extract_features
from highlight_studio.features.onnx_runtime import FRAME_SPECS, RUNTIME_ENV
from highlight_studio.features.visual import create_backbone
from highlight_studio.model.checkpoint import load_checkpoint, save_checkpoint
from highlight_studio.model.config import RASLConfig
from highlight_studio.model.description import CheckpointMeta, read_meta, resolve_checkpoint
from highlight_studio.model.inference import raw_scores, score_sequence
from highlight_studio.model.onnx_scorer import TOLERANCE, OnnxScorer, graph_path
from highlight_studio.model.rasl import RASL
from highlight_studio.scoring import (
    FRAME_BACKBONES,
    Analysis,
    analyze,
    load_analyzer,
    model_features,
    motion_input,
)

ROOT = Path(__file__).resolve().parents[1]
CURVE_TOLERANCE = 1e-3  # max abs difference of the [0, 1] curves, features' rounding included


@pytest.fixture(autouse=True)
def no_runtime_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNTIME_ENV, raising=False)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 12 s at 12 fps of changing colour ramps: 60 steps of 0.2 s
    path = tmp_path_factory.mktemp("clips") / "made.mp4"
    return write_clip(path, ClipSpec(n_frames=144, fps=Fraction(12), width=320, height=180))


def _features(clip: Path, backbone: object) -> np.ndarray:
    """What the default model reads of ``clip``: the frames' features, and the motion stream
    beside them when it reads motion (as analysis makes them)."""
    motion = motion_input(read_meta("default"))
    *_, result = extract_features(clip, backbone, 0.2, None, with_audio=False,  # type: ignore[arg-type]
                                  motion=motion)
    assert isinstance(result, ClipFeatures)
    return model_features(result, motion)


def test_the_torch_free_lists_match_the_registry() -> None:
    from highlight_studio.features.visual import available_backbones

    assert sorted(FRAME_BACKBONES) == available_backbones()


def test_frame_specs_match_the_torch_backbones() -> None:
    from timm.data import resolve_model_data_config

    for name, spec in FRAME_SPECS.items():
        backbone = create_backbone(name, device="cpu", runtime="torch")
        config = resolve_model_data_config(backbone.module)
        assert f"{name}:{spec.weights_tag}" == backbone.id
        assert (spec.input_size, spec.dim) == (backbone.input_size, backbone.dim)
        assert spec.mean == pytest.approx(config["mean"]) and spec.std == pytest.approx(
            config["std"])


def test_the_torch_free_preprocessing_is_the_plain_formula() -> None:
    """OnnxFrameBackbone normalises whole rows at once (a speed-up): the graph must see the
    same floats as uint8 -> float32, times the scale, plus the shift per channel, for
    contiguous and strided frames and a batch that is not a multiple of the chunk."""
    import dataclasses

    from highlight_studio.features.onnx_runtime import OnnxFrameBackbone

    # Other values per channel than Lite0's (0.5 each), so a channel mix-up shows.
    spec = dataclasses.replace(FRAME_SPECS["tf_efficientnet_lite0"], mean=(0.485, 0.456, 0.406),
                               std=(0.229, 0.224, 0.225))
    backbone = OnnxFrameBackbone("tf_efficientnet_lite0", spec)
    seen: list[np.ndarray] = []
    run = backbone._onnx.run
    backbone._onnx.run = lambda x: seen.append(x.copy()) or run(x)  # type: ignore[method-assign]
    mean, std = np.array(spec.mean, np.float32), np.array(spec.std, np.float32)
    frames = np.random.default_rng(3).integers(0, 256, (22, 224, 224, 3), dtype=np.uint8)
    for batch in (frames[:11], frames[::2]):
        seen.clear()
        backbone.embed(batch)
        plain = batch.astype(np.float32)
        plain *= (1.0 / (255.0 * std)).astype(np.float32)
        plain += (-mean / std).astype(np.float32)
        np.testing.assert_array_equal(np.concatenate(seen), plain)


def test_onnx_and_pytorch_paths_give_the_same_curve(clip: Path) -> None:
    fast = load_analyzer(device="cpu")
    assert fast.runtime == "onnxruntime" and fast.notes == ()
    model, _ = load_checkpoint("default", device="cpu")
    exact_backbone = create_backbone(device="cpu", runtime="torch")
    visual_fast, visual_exact = _features(clip, fast.backbone), _features(clip, exact_backbone)
    assert np.abs(visual_fast - visual_exact).max() < 1e-4
    # The scorer graph alone, on the same features: activations within TOLERANCE.
    activation_gap = np.abs(raw_scores(fast.scorer, visual_exact) - raw_scores(model,
                                                                             visual_exact))
    assert activation_gap.max() < TOLERANCE
    # End to end: curves from each path's own features.
    curve_fast = score_sequence(fast.scorer, visual_fast)
    curve_exact = score_sequence(model, visual_exact)
    assert curve_fast.shape == (60,) and np.ptp(curve_exact) > 0
    assert np.abs(curve_fast - curve_exact).max() < CURVE_TOLERANCE
    [result] = [e for e in analyze(clip, device="cpu", use_cache=False)
                if isinstance(e, Analysis)]
    np.testing.assert_allclose(result.scores, curve_fast, atol=1e-6)


BLOCKER = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "timm", "torchvision"):
            raise ImportError(f"blocked for this test: {name}")
        return None
sys.meta_path.insert(0, Block())
try:
    import torch
except ImportError:
    pass
else:
    raise SystemExit("the import blocker does not work")
from highlight_studio.cli import main
code = main(sys.argv[1:])
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "timm", "torchvision"))
print("LOADED", loaded)
print("OPENCV", "cv2" in sys.modules)
sys.exit(code)
"""


def test_a_process_that_cannot_import_torch_analyses_a_clip(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "curve.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(BLOCKER), "analyze", str(clip),
                           "--device", "cpu", "--no-cache", "--json", str(out)],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout
    reads_motion = motion_input(read_meta("default")) is not None
    assert f"OPENCV {reads_motion}" in done.stdout  # OpenCV only for the motion stream
    document = json.loads(out.read_text())
    assert document["model"] == "default" and len(document["scores"]) == 60
    model, _ = load_checkpoint("default", device="cpu")
    exact = score_sequence(model, _features(clip, create_backbone(device="cpu",
                                                                  runtime="torch")))
    assert np.abs(np.array(document["scores"]) - exact).max() < CURVE_TOLERANCE


def test_opencv_is_imported_only_where_motion_is_computed() -> None:
    """The analysis modules load without OpenCV, so a model that reads no motion starts
    without it (17-26 ms of a cold start); the motion stream imports it when it runs."""
    code = ("import sys\n"
            "import highlight_studio.cli, highlight_studio.scoring, "
            "highlight_studio.features.extract, highlight_studio.features.motion\n"
            "print('cv2' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def _tiny(path: Path) -> Path:
    torch.manual_seed(0)
    config = RASLConfig(visual_dim=256, audio_dim=64, window=8, k=2)
    meta = CheckpointMeta(config=config, backbone_id="test_tiny:seed0", step_seconds=0.25)
    return save_checkpoint(path, RASL(config), meta)


def test_a_model_without_a_graph_scores_on_pytorch(tmp_path: Path) -> None:
    tiny = _tiny(tmp_path / "mine.safetensors")
    analyzer = load_analyzer(tiny, device="cpu")
    assert analyzer.runtime == "torch"
    assert any("has no ONNX graph" in note for note in analyzer.notes)


def test_a_stale_graph_is_refused_and_pytorch_runs(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    tiny = _tiny(tmp_path / "mine.safetensors")
    shipped = resolve_checkpoint("default")
    # A graph left beside a checkpoint it was not exported from (a retrained model).
    shutil.copy(graph_path(shipped), graph_path(tiny))
    with pytest.raises(ModelError, match=r"checkpoint_sha256 .*the file is stale"):
        OnnxScorer(tiny, read_meta(tiny))
    with caplog.at_level(logging.WARNING, logger="highlight_studio.scoring"):
        analyzer = load_analyzer(tiny, device="cpu")
    assert analyzer.runtime == "torch" and "stale" in caplog.text
    # The shipped graph beside a copy of its own checkpoint is current.
    copy = tmp_path / "copy.safetensors"
    shutil.copy(shipped, copy)
    shutil.copy(graph_path(shipped), graph_path(copy))
    assert load_analyzer(copy, device="cpu").runtime == "onnxruntime"


def test_the_env_var_forces_the_torch_backbone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUNTIME_ENV, "torch")
    analyzer = load_analyzer(device="cpu")
    assert analyzer.runtime == "torch" and analyzer.backbone.runtime == "torch"


def test_the_window_s_device_probe_needs_no_torch_on_a_cpu_machine(tmp_path: Path) -> None:
    code = ("import sys\n"
            "from highlight_studio import scoring\n"
            "scoring.gpu_possible = lambda: False  # as on a machine without a GPU driver\n"
            "from highlight_studio.events import CancelToken\n"
            "from highlight_studio.gui.environment import probe_setup\n"
            "[setup] = probe_setup(CancelToken())\n"
            "print(setup.device, sorted(m for m in ('timm', 'torch', 'torchvision')\n"
            "                           if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "cpu []"
