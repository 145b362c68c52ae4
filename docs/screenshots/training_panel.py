"""Grab the training panel after a real (small) run into docs/screenshots/training_panel.png.

    .venv/bin/python docs/screenshots/training_panel.py

Offscreen and in throwaway user folders: the sample clip and a silent copy of it, a small
untrained start model on the ``test_tiny`` backbone (so the run takes seconds on a CPU, not the
minutes the shipped model's backbone would), 200 steps through the panel's Start button.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import av
import torch
from make_screenshots import SAMPLE, settle  # also sets QT_QPA_PLATFORM=offscreen
from PySide6.QtWidgets import QApplication

HERE = Path(__file__).resolve().parent


def silent_copy(clip: Path, out: Path) -> Path:
    """The clip's video stream alone (no re-encoding), to show a clip without audio."""
    with av.open(str(clip)) as source, av.open(str(out), "w") as target:
        stream = source.streams.video[0]
        copy = target.add_stream_from_template(stream)
        for packet in source.demux(stream):
            if packet.dts is not None:
                packet.stream = copy
                target.mux(packet)
    return out


def start_model(folder: Path) -> Path:
    from highlight_studio.model.checkpoint import save_checkpoint
    from highlight_studio.model.config import RASLConfig
    from highlight_studio.model.description import CheckpointMeta
    from highlight_studio.model.rasl import RASL

    torch.manual_seed(0)
    config = RASLConfig(visual_dim=256, audio_dim=256, window=16, k=3, enc_channels=(4, 4, 4),
                        proj_dim=4)
    meta = CheckpointMeta(config=config, backbone_id="test_tiny:seed0", step_seconds=0.25)
    folder.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(folder / "tiny-start", RASL(config), meta)


def main() -> int:
    tmp = Path(tempfile.mkdtemp())
    for var in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "HIGHLIGHT_STUDIO_CONFIG"):
        os.environ[var] = str(tmp / var.lower())  # throwaway user folders (read at each use)
    torch.set_num_threads(1)  # a tiny model: more threads only contend on a shared machine
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Highlight Studio")
    from highlight_studio.gui.main_window import MainWindow
    from highlight_studio.training.runs import user_data_dir

    checkpoint = start_model(user_data_dir() / "models")
    footage = [SAMPLE, silent_copy(SAMPLE, tmp / "trailer_silent.mp4")]
    window = MainWindow(probe_local_setup=False)
    window.resize(1440, 900)
    window.show()
    window.add_model_choice("tiny-start", str(checkpoint))
    window.toggle_training_panel()
    panel = window.training
    assert panel is not None and window.training_dock is not None
    panel.add_inputs(footage)
    settle(lambda: len(panel.clips) == 2 and not panel.survey_jobs, 60)
    panel.name_edit.setText("my-trailers")
    panel.start_box.setCurrentIndex(panel.start_box.findText("tiny-start"))
    panel.steps_box.setValue(200)
    panel.batch_box.setValue(4)
    panel.k_box.setValue(3)
    panel.start_button.click()
    settle(lambda: panel.job is None, 600)
    if panel.saved is None:
        raise SystemExit(f"the run did not finish: {panel.status.text()}")
    settle(lambda: True, 1)
    window.training_dock.grab().save(str(HERE / "training_panel.png"))
    window.close()
    print(f"saved {HERE / 'training_panel.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
