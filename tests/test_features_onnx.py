"""ONNX Runtime for the default backbone: same features as PyTorch, and a quiet fallback."""

from __future__ import annotations

import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from clipgen import draw_frame

from highlight_studio.errors import FeatureError
from highlight_studio.features import onnx_runtime
from highlight_studio.features.extract import model_threads
from highlight_studio.features.onnx_runtime import RUNTIME_ENV, OnnxBackbone, onnx_path
from highlight_studio.features.visual import Backbone, create_backbone

LITE0 = "tf_efficientnet_lite0"
SHIPPED = onnx_path(LITE0)  # resolved before any test points ONNX_DIR elsewhere


@pytest.fixture(autouse=True)
def no_runtime_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(RUNTIME_ENV, raising=False)


@pytest.fixture(scope="module")
def lite0_torch() -> Backbone:
    return create_backbone(device="cpu", runtime="torch")


@pytest.fixture(scope="module")
def lite0_onnx() -> Backbone:
    return create_backbone(device="cpu", runtime="onnxruntime")


def test_onnxruntime_gives_the_same_features(lite0_torch: Backbone, lite0_onnx: Backbone) -> None:
    assert (lite0_torch.runtime, lite0_onnx.runtime) == ("torch", "onnxruntime")
    assert lite0_onnx.id == lite0_torch.id and lite0_onnx.dim == lite0_torch.dim
    width, height = lite0_torch.input_size
    # Frames at the input size (what analysis decodes) and 720p ones, resized on the way in.
    for size in ((width, height), (1280, 720)):
        frames = np.stack([draw_frame(i, *size) for i in range(0, 90, 15)])
        exact, fast = lite0_torch.embed(frames), lite0_onnx.embed(frames)
        assert fast.shape == exact.shape and fast.dtype == np.float32
        cosine = (exact * fast).sum(1) / np.linalg.norm(exact, axis=1) / np.linalg.norm(fast,
                                                                                        axis=1)
        assert np.abs(fast - exact).max() < 1e-4 and cosine.min() > 0.9999


def test_cpu_float32_picks_onnxruntime_and_the_env_var_forces_torch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert create_backbone(device="cpu").runtime == "onnxruntime"
    assert create_backbone(device="cpu", bfloat16=True).runtime == "torch"
    monkeypatch.setenv(RUNTIME_ENV, "torch")
    assert create_backbone(device="cpu").runtime == "torch"
    monkeypatch.setenv(RUNTIME_ENV, "tensorflow")
    with pytest.raises(FeatureError, match="Unknown backbone runtime 'tensorflow'"):
        create_backbone("test_tiny", device="cpu")


def test_session_threads_follow_the_extraction_policy(lite0_torch: Backbone) -> None:
    spec = lite0_torch.onnx_spec()
    assert spec is not None
    assert OnnxBackbone(SHIPPED, spec).threads == model_threads("cpu")


@pytest.fixture()
def onnx_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(onnx_runtime, "ONNX_DIR", tmp_path)
    return tmp_path


def test_a_corrupt_graph_falls_back_to_torch_or_raises_when_asked(
        onnx_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    (onnx_dir / f"{LITE0}.onnx").write_bytes(b"not a protobuf" * 100)
    with caplog.at_level(logging.DEBUG, logger="highlight_studio.features.visual"):
        assert create_backbone(device="cpu").runtime == "torch"
    assert "not a readable ONNX model" in caplog.text
    with pytest.raises(FeatureError, match=r"not a readable ONNX model.*export_backbone_onnx"):
        create_backbone(device="cpu", runtime="onnxruntime")


def test_a_graph_from_other_weights_is_never_used(onnx_dir: Path) -> None:
    onnx = pytest.importorskip("onnx")
    model = onnx.load(str(SHIPPED))
    for prop in model.metadata_props:
        if prop.key.endswith("weights_sha256"):
            prop.value = "0" * 64
    onnx.save(model, str(onnx_dir / f"{LITE0}.onnx"))
    assert create_backbone(device="cpu").runtime == "torch"
    with pytest.raises(FeatureError, match=r"weights_sha256 '0000.*the file is stale"):
        create_backbone(device="cpu", runtime="onnxruntime")


def test_without_onnxruntime_torch_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import now raises ImportError
    assert create_backbone(device="cpu").runtime == "torch"
    with pytest.raises(FeatureError, match="pip install onnxruntime"):
        create_backbone(device="cpu", runtime="onnxruntime")


def test_tiny_backbone_stays_on_torch(onnx_dir: Path) -> None:
    shutil.copy(SHIPPED, onnx_dir / "test_tiny.onnx")  # seeded weights: must not be used
    tiny = create_backbone("test_tiny", device="cpu")
    assert tiny.runtime == "torch" and tiny.onnx_spec() is None
    frames = np.stack([draw_frame(i, 64, 64) for i in range(3)])
    assert tiny.embed(frames).shape == (3, tiny.dim)
    with pytest.raises(FeatureError, match="runs with PyTorch"):
        create_backbone("test_tiny", device="cpu", runtime="onnxruntime")
