"""The start-up probe and the window's process stay free of torch and triton: the device comes
from the GPU driver and torch's build files, the model list from checkpoint headers, and a
window showing a kept curve never imports torch (which relaunches crashed on, under llvmpipe)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from highlight_studio import media
from highlight_studio.features.backbone_names import FRAME_BACKBONES
from highlight_studio.gui.curve_cache import save_curve
from highlight_studio.gui.environment import torch_build
from highlight_studio.scoring import Analysis

REPO = Path(__file__).resolve().parents[2]


def run_python(code: str, **env: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **env},
                          cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def test_the_probe_imports_no_torch_and_agrees_with_torch() -> None:
    out = run_python(
        "import json, sys\n"
        "from highlight_studio.events import CancelToken\n"
        "from highlight_studio.gui.environment import probe_setup\n"
        "(setup,) = probe_setup(CancelToken())\n"
        "loaded = [m for m in ('torch', 'timm', 'torchvision', 'triton') if m in sys.modules]\n"
        "from highlight_studio.features.visual import best_device\n"
        "print(json.dumps([setup.device, setup.device_label, loaded, best_device()]))\n")
    device, label, loaded, torch_says = json.loads(out)
    assert loaded == []
    assert device == torch_says  # the choice analyze() makes with device=None
    assert label.startswith("GPU: " if device != "cpu" else "CPU (")


def test_torch_build_is_read_from_the_files_as_torch_reports_it() -> None:
    import torch

    build = torch_build()
    assert build.get("cuda") == torch.version.cuda and build.get("hip") == torch.version.hip


@pytest.mark.parametrize(("count", "version", "expected"), [
    (1, 13000, ["Fake GPU 9000", ""]),
    (1, 12080, [None, "the NVIDIA driver supports CUDA 12, this PyTorch needs 13.0"]),
    (0, 13000, [None, "no GPU found"]),
])
def test_the_gpu_is_asked_of_the_driver_library(tmp_path, count, version, expected) -> None:
    """A stand-in libcuda.so.1 (found first on LD_LIBRARY_PATH) plays the driver."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not sys.platform.startswith("linux"):
        pytest.skip("needs a C compiler to build the stand-in driver library")
    source = tmp_path / "cuda.c"
    source.write_text(
        "#include <string.h>\n"
        "int cuInit(unsigned flags) { return 0; }\n"
        f"int cuDeviceGetCount(int *n) {{ *n = {count}; return 0; }}\n"
        f"int cuDriverGetVersion(int *v) {{ *v = {version}; return 0; }}\n"
        "int cuDeviceGet(int *d, int ordinal) { *d = ordinal; return 0; }\n"
        "int cuDeviceGetName(char *name, int len, int d) {\n"
        "  strncpy(name, \"Fake GPU 9000\", len); return 0; }\n")
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(tmp_path / "libcuda.so.1"),
                    str(source)], check=True)
    out = run_python("import json\n"
                     "from highlight_studio.gui.environment import nvidia_gpu\n"
                     "print(json.dumps(nvidia_gpu('13.0')))\n",
                     LD_LIBRARY_PATH=str(tmp_path))
    assert json.loads(out) == expected


def test_frame_backbone_names_match_the_registry() -> None:
    from highlight_studio.features.visual import available_backbones, register_backbone

    assert available_backbones() == sorted(FRAME_BACKBONES)
    with pytest.raises(ValueError, match="FRAME_BACKBONES"):
        register_backbone("not_listed")(lambda weights: None)


def test_the_window_process_keeps_triton_out_and_still_runs_torch() -> None:
    """torchvision (through timm) asks torch for triton; kept out, it gets "not installed"."""
    out = run_python(
        "import json, sys\n"
        "from highlight_studio.gui.environment import keep_triton_out\n"
        "keep_triton_out()\n"
        "from highlight_studio.features.visual import create_backbone\n"
        "import numpy as np\n"
        "from torch.utils._triton import has_triton_package\n"
        "embedded = create_backbone('test_tiny').embed(np.zeros((2, 64, 64, 3), np.uint8))\n"
        "print(json.dumps([sys.modules.get('triton') is None, has_triton_package(),\n"
        "                  list(embedded.shape)]))\n")
    kept_out, has_triton, shape = json.loads(out)
    assert kept_out and not has_triton and shape[0] == 2


def test_the_window_shows_a_kept_curve_and_its_models_without_torch(clip) -> None:
    """A relaunch on an analysed clip: the curve comes from the cache and the probe lists the
    user's models, and nothing has imported torch."""
    info = media.probe(clip)
    n = int(np.ceil(info.duration / 0.2))
    scores = np.linspace(0.0, 1.0, n, dtype=np.float32)
    save_curve(Analysis(info.path, info, "default", "tf_efficientnet_lite0:x", 0.2, scores,
                        "cpu"), None)
    out = run_python(
        "import json, sys, time\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from highlight_studio.gui.main_window import MainWindow\n"
        "app = QApplication([])\n"
        "window = MainWindow()  # the real analysis, probe and curve cache\n"
        "window.show()\n"
        f"window.open_clip({str(clip)!r})\n"
        "while window.analysis is None or window.setup_job.is_running():\n"
        "    app.processEvents()\n"
        "    time.sleep(0.01)\n"
        "app.processEvents()\n"
        "shown = window.curve.curve.getData()[1].tolist()\n"
        "loaded = [m for m in ('torch', 'timm', 'triton') if m in sys.modules]\n"
        "window.close()\n"
        "print(json.dumps([shown, loaded]))\n")
    shown, loaded = json.loads(out)
    assert loaded == []
    np.testing.assert_allclose(shown, scores, atol=1e-6)
