"""Open-to-curve: seconds from the window shown to the sample clip's curve, nothing cached.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/open_to_curve.py [--opens 3]

A fresh interpreter shows the window, opens the sample clip with nothing cached (a new cache
folder per run) and reports when the default model's curve arrives, timed from the window
shown. Two ways, alternating in the same session so machine load hits both alike:

- ``as shipped``: on a CPU the analysis runs on ONNX Runtime and never imports torch;
- ``PyTorch path (before)``: the torch-free parts refused, so the analysis imports torch and
  timm and scores with PyTorch (ONNX Runtime backbone), as every analysis did before.

Launch-to-window is ``benchmarks/startup.py``. Caches and settings go to a temporary folder.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

OPEN_CHILD = """
import sys
if {before}:
    from highlight_studio import scoring
    from highlight_studio.errors import FeatureError, ModelError
    def no_graph(*args, **kwargs):
        raise ModelError("the PyTorch path, as before")
    def no_backbone(*args, **kwargs):
        raise FeatureError("the PyTorch path, as before")
    scoring.OnnxScorer = no_graph
    scoring.torch_free_backbone = no_backbone
from PySide6.QtWidgets import QApplication
from highlight_studio.gui.main_window import MainWindow
app = QApplication(sys.argv[:1])
window = MainWindow()
window.show()
app.processEvents()
print("shown", flush=True)
def done(analysis):
    print("curve", len(analysis.scores), flush=True)
    app.quit()
window.analysisFinished.connect(done)
window.open_clip(sys.argv[1])
app.exec()
window.close()
"""
SAMPLE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources",
                      "samples", "trailer_bbb.mp4")


def time_open(before: bool, env: dict[str, str]) -> float:
    """Seconds from the window shown to the sample clip's curve, nothing cached."""
    with tempfile.TemporaryDirectory() as home:
        env = {**env, "HIGHLIGHT_STUDIO_CACHE": os.path.join(home, "cache"),
               **{var: os.path.join(home, var) for var in
                  ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}}
        child = subprocess.Popen([sys.executable, "-c", OPEN_CHILD.format(before=before),
                                  SAMPLE], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True, env=env)
        assert child.stdout is not None
        shown = None
        for line in child.stdout:
            if line.strip() == "shown":
                shown = time.perf_counter()
            elif line.startswith("curve") and shown is not None:
                seconds = time.perf_counter() - shown
                break
        else:
            raise RuntimeError("the curve did not arrive")
        child.wait()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opens", type=int, default=3)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               **{var: os.path.join(home, var) for var in
                  ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}}
        opens: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.opens):
            for before in (False, True):
                opens[before].append(time_open(before, env))
    print(f"{args.opens} opens each, alternating, {os.cpu_count()} logical cores, load average "
          f"(1 min) {load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print("| open sample clip to curve, nothing cached | median | min | max |\n|---|---|---|---|")
    for before, label in ((False, "as shipped (ONNX Runtime, no torch)"),
                          (True, "PyTorch path (before)")):
        t = opens[before]
        print(f"| {label} | {statistics.median(t):.2f} s | {min(t):.2f} s | {max(t):.2f} s |")


if __name__ == "__main__":
    main()
