"""Grab the real window on the sample clip into docs/screenshots/ (offscreen, no display needed).

    .venv/bin/python docs/screenshots/make_screenshots.py [--clip CLIP] [--checkpoint MODEL]

Runs the real analysis (shipped model unless --checkpoint), waits for the curve and the
thumbnails, picks the threshold that keeps about a fifth of the clip, moves the playhead to the
best segment and saves the main window, the export dialog and the shortcut list.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent.parent / "resources" / "samples" / "trailer_bbb.mp4"


def settle(condition, timeout: float) -> None:
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise TimeoutError("the window did not get there in time")
        loop = QEventLoop()
        QTimer.singleShot(20, loop.quit)
        loop.exec()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clip", type=Path, default=SAMPLE)
    parser.add_argument("--checkpoint", default=None)
    parser.add_argument("--size", default="1440x860", help="window size, WIDTHxHEIGHT")
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the PNGs")
    args = parser.parse_args()
    os.environ["HIGHLIGHT_STUDIO_CONFIG"] = tempfile.mkdtemp()  # default layout, no session
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Highlight Studio")
    import pyqtgraph as pg

    from highlight_studio.gui.export_dialog import ExportDialog
    from highlight_studio.gui.main_window import MainWindow
    from highlight_studio.gui.shortcuts import ShortcutHelp

    pg.setConfigOptions(antialias=True)
    window = MainWindow()
    width, height = (int(v) for v in args.size.split("x"))
    window.resize(width, height)
    window.show()
    window.open_clip(args.clip, checkpoint=args.checkpoint)
    settle(lambda: window.job is None, 1800)
    if window.analysis is None:
        raise SystemExit(window.error_box.text() if window.error_box else "analysis cancelled")
    scores = window.analysis.scores
    window.options.threshold.setValue(round(float(np.quantile(scores, 0.8)), 2))
    settle(lambda: window.thumbnails.cached_count() > 0 and window.thumbnails.is_idle(), 120)
    settle(lambda: window.setup_job is None or not window.setup_job.is_running(), 60)
    best = max(window.history.state.segments, key=lambda s: s.score)
    middle = (best.start + best.end) / 2
    window.preview.seek(middle)
    window.table.select_row(window.history.state.segments.index(best))
    settle(lambda: abs(window.preview.video.frame_time - middle) < 0.5, 20)
    window.grab().save(str(args.out / "main_window.png"))
    dialog = ExportDialog(window.analysis.path, Path.home(), window)
    dialog.show()
    settle(lambda: True, 1)
    dialog.grab().save(str(args.out / "export_dialog.png"))
    dialog.close()
    helper = ShortcutHelp(window)
    helper.show()
    settle(lambda: True, 1)
    helper.grab().save(str(args.out / "shortcuts.png"))
    helper.close()
    window.close()
    print(f"saved to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
