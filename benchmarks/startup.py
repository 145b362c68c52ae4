"""Start-up: seconds from launching Python to the main window on screen, and to the start-up
probe's answer (device in the status bar, user models in the picker).

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/startup.py [--runs 5]

Each run is a fresh interpreter (as a user's launch is), timed by this process from the
launch to the child's reports. Three ways are timed in turn in the same session, so machine
load hits them alike:

- ``as shipped``: the window imports no torch, and neither does the probe (it asks the GPU
  driver and reads torch's build files);
- ``torch probe``: the probe imports torch and timm and asks torch for the device, as it did
  before (the baseline for the probe's answer; it also crashed relaunches under llvmpipe);
- ``torch first``: ``torch`` and ``timm`` imported before the window (the baseline for the
  window itself, from before the window stopped importing them).

Caches and settings go to a temporary folder, so the user's are neither read nor changed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = """
import sys, time
mode = {mode!r}
if mode == "torch first":
    import timm, torch  # noqa: F401
from PySide6.QtWidgets import QApplication
from highlight_studio.gui import environment
from highlight_studio.gui.main_window import MainWindow
if mode == "torch probe":
    def find_device():
        from highlight_studio.features.visual import best_device
        return best_device(), "asked torch"
    environment.find_device = find_device
environment.keep_triton_out()
app = QApplication(sys.argv[:1])
window = MainWindow()
window.show()
app.processEvents()
print("shown", flush=True)
while window.setup_job.is_running():
    app.processEvents()
    time.sleep(0.005)
app.processEvents()
print("probed", flush=True)
window.close()
"""
MODES = ("as shipped", "torch probe", "torch first")


def time_launch(mode: str, env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawning the interpreter to its "shown" and "probed" lines."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(mode=mode)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                             env=env)
    assert child.stdout is not None
    seen: dict[str, float] = {}
    for line in child.stdout:
        seen[line.strip()] = time.perf_counter() - started
    child.wait()
    if set(seen) != {"shown", "probed"}:
        raise RuntimeError(f"{mode}: the window did not come up and probe ({sorted(seen)})")
    return seen["shown"], seen["probed"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               **{var: os.path.join(home, var) for var in
                  ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}}
        for mode in MODES:
            time_launch(mode, env)  # warm the file-system cache for every way alike
        times: dict[str, list[tuple[float, float]]] = {mode: [] for mode in MODES}
        for _ in range(args.runs):
            for mode in MODES:
                times[mode].append(time_launch(mode, env))
    print(f"{args.runs} launches each, in turn, {os.cpu_count()} logical cores, "
          f"QT_QPA_PLATFORM={env['QT_QPA_PLATFORM']}, load average (1 min) "
          f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print("| launch to | way | median | min | max |\n|---|---|---|---|---|")
    for index, what in enumerate(("window shown", "probe answered")):
        for mode in MODES:
            t = [pair[index] for pair in times[mode]]
            print(f"| {what} | {mode} | {statistics.median(t):.2f} s | {min(t):.2f} s | "
                  f"{max(t):.2f} s |")


if __name__ == "__main__":
    main()
