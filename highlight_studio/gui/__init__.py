"""The PySide6 + pyqtgraph shell: the only package that imports Qt (see docs/ARCHITECTURE.md)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from .refcounts import make_singletons_immortal

make_singletons_immortal()  # before any Qt call can take a reference it does not own


def run(clip: str | Path | None = None, checkpoint: str | None = None) -> int:
    """Open the window (on ``clip`` if given) and run the event loop until it closes."""
    window = None

    def close(signum: int, frame: object) -> None:
        """Ctrl+C in the terminal, or SIGTERM at log-out, closes the window the normal way
        (cancel, wait, save); before the window exists there is nothing to save."""
        if window is None:
            raise SystemExit(128 + signum)
        window.close()

    for signum in (signal.SIGINT, signal.SIGTERM):  # first: Qt's import takes a second
        signal.signal(signum, close)

    from .environment import keep_triton_out

    keep_triton_out()  # before Qt loads Mesa's LLVM: the two crash in one process
    import pyqtgraph as pg
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from .main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Highlight Studio")
    app.setOrganizationName("highlight-studio")
    pg.setConfigOptions(antialias=True)
    window = MainWindow()
    window.show()
    if clip is not None:
        window.open_clip(Path(clip), checkpoint=checkpoint)
    # The timer wakes the Python interpreter so it notices a signal while Qt's loop runs.
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(250)
    return int(app.exec())
