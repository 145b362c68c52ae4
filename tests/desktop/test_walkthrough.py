"""An editor's day in the real window under xcb on Xvfb (``walkthrough.py`` drives it from
inside the app's process): open a clip, analyse, drag the threshold, untick a segment, change
another and undo that, export an EDL and an MP4 cut, reveal the training panel and train two
steps; then relaunch on the clip and find the edits, the curve and the new model again, with
torch never imported, and analyse again (on a CPU still without torch: ONNX Runtime)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import av
import pytest
from clipgen import ClipSpec, write_clip
from tinytrain import tiny_start_model

from highlight_studio.scoring import gpu_possible
from highlight_studio.training.runs import user_data_dir

from .conftest import start, tail, wait_for_exit

DRIVER = Path(__file__).with_name("walkthrough.py")


def run_phase(phase: str, clip: Path, out: Path, display: str) -> dict:
    log = out / f"{phase}.log"
    app = start([sys.executable, str(DRIVER), phase, str(clip), str(out)], display, log)
    wait_for_exit(app, log, timeout=600)  # the driver closes the window when it is done
    report = json.loads((out / f"{phase}.json").read_text(encoding="utf-8"))
    assert "failed" not in report, f"{report['failed']}\n{tail(log)}"
    assert report["error_box"] is None
    return report


def test_open_threshold_edit_undo_export_train_then_relaunch(display, tmp_path) -> None:
    clip = write_clip(tmp_path / "match.mp4", ClipSpec(n_frames=240, width=160, height=96))
    models = user_data_dir() / "models"  # the probe lists it; the panel starts from it
    models.mkdir(parents=True)
    tiny_start_model(models / "tiny-start")

    edit = run_phase("edit", clip, tmp_path, display)
    assert edit["steps"] == 50  # 10 s at the default model's 0.2 s
    assert edit["threshold"] == pytest.approx(edit["threshold_wanted"], abs=0.02)  # dragged
    auto = edit["auto_segments"]
    assert len(auto) >= 2 and all(included for _, _, included in auto)
    assert edit["after_untick"][0][2] is False and edit["after_untick"][1:] == auto[1:]
    assert edit["after_change"][-1][:2] != auto[-1][:2]  # the last segment's edge moved
    assert edit["after_undo"] == edit["after_untick"]  # undo took back the change only

    ticked = [s for s in edit["after_undo"] if s[2]]
    assert edit["export_status"][0].startswith(f"Exported {len(ticked)} segment")
    assert edit["edl"].count("FROM CLIP NAME:  match.mp4") == len(ticked)
    assert len(edit["mp4"]) == len(ticked)
    with av.open(str(tmp_path / "cuts" / edit["mp4"][0])) as cut:
        first = ticked[0][1] - ticked[0][0]
        assert float(cut.duration / av.time_base) == pytest.approx(first, abs=0.1)

    assert edit["mesa_llvm_before_training"], "no software OpenGL: the crash is not covered"
    assert edit["panel_visible"] and edit["training_status"] == "Done: 2 steps."
    assert edit["trained"] == str(models / "walkthrough.safetensors")
    assert Path(edit["trained"]).is_file() and "walkthrough" in edit["picker"]

    again = run_phase("relaunch", clip, tmp_path, display)
    assert again["final"] == edit["final"] == edit["after_undo"]  # the session came back
    assert again["final_threshold"] == pytest.approx(edit["final_threshold"])
    assert again["curve_points"] == edit["steps"]  # the cached curve
    assert again["training_revealed"]  # the revealed panel is remembered
    assert not again["torch_at_curve"] and not again["torch_after_probe"]
    assert not again["triton_loaded"]
    assert again["mesa_llvm_before_torch"], "no software OpenGL: the crash is not covered"
    assert again["reanalysed_steps"] == edit["steps"]
    # On a CPU the shipped model analyses on ONNX Runtime, so torch stays out (it loaded after
    # Mesa's LLVM in the first phase's training, which covers the crash); with a GPU it loads.
    assert again["torch_after_analysis"] == gpu_possible()
    assert again["after_analysis"] == edit["final"]  # same clip and model: the edits stay
