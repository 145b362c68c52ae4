"""training.runs, the named runs the window lists at start-up, in a process that cannot import
torch: a run is named, its run.json written, listed as pending with its saved step, its
settings checked, and the card and clip survey that the panel uses load too, with no torch."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import sys
TORCH = ("torch", "timm", "torchvision")
sys.modules.update(dict.fromkeys(TORCH))  # None: importing them (or a submodule) fails
from highlight_studio.errors import ModelError
from highlight_studio.training import card, inputs, run_log, runs
from highlight_studio.training.options import TrainOptions

clip = runs.user_data_dir() / "clip.mp4"
clip.parent.mkdir(parents=True)
clip.write_bytes(b"")
request = runs.named_request("mine", [clip], TrainOptions(steps=8), init="default",
                             config={"k": 3, "use_scl": False})
request.checkpoint.parent.mkdir(parents=True)  # as fine_tune does first
runs.write_run_state(request, finished=False)
[pending] = runs.pending_runs()
assert (pending.name, pending.step, pending.request) == ("mine", 0, request), pending
try:
    runs.FineTuneRequest(inputs=(), out="m", config={"kk": 3})
except ModelError as exc:
    print("REFUSED", exc)
runs.write_run_state(request, finished=True)
assert runs.pending_runs() == []
print("LOADED", sorted(m for m, module in sys.modules.items()
                       if m.split(".")[0] in TORCH and module is not None))
"""


def test_named_runs_need_no_torch(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "REFUSED 'kk' is not a model setting (did you mean 'k'?)" in done.stdout
    assert "LOADED []" in done.stdout
    run_json = tmp_path / "data" / "highlight-studio" / "training" / "mine" / "run.json"
    assert '"finished": true' in run_json.read_text()
