"""The decode thread shares the model's work with a backbone that may embed from two threads
(``concurrent_embed``, the ONNX Runtime CPU one): the same rows as one thread embedding
everything, progress that only grows and ends at the step count, errors and Cancel reaching the
caller, and the decode thread joined. Deterministic: the model's first call waits until the
decode thread has embedded a batch itself (no timing assumptions)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from clipgen import ClipSpec, read_frame_index, write_clip

from highlight_studio.events import Cancelled, CancelToken, Progress
from highlight_studio.features.extract import CPU_SLICE, ClipFeatures, extract_features

STEP = 0.2
N_STEPS = 50  # 10 s at 24 fps: seven batches of at most CPU_SLICE frames


class NumpyBackbone:
    """Features straight from the pixels (the frame's barcode index and a few pixel values),
    recording which thread embedded which frame."""

    id = "numpy:test"
    dim = 5
    input_size = (160, 120)
    device = "cpu"

    def __init__(self, concurrent: bool, fail_in_decoder: bool = False,
                 cancel: CancelToken | None = None) -> None:
        self.concurrent_embed = concurrent
        self.fail_in_decoder = fail_in_decoder
        self.cancel = cancel
        self.calls: list[tuple[str, list[int]]] = []
        self.decoder_embedded = threading.Event()
        self._lock = threading.Lock()

    def embed(self, frames: np.ndarray) -> np.ndarray:
        thread = threading.current_thread().name
        indices = [read_frame_index(f) for f in frames]
        with self._lock:
            self.calls.append((thread, indices))
        if thread == "highlight-decode":
            if self.fail_in_decoder:
                raise RuntimeError("the model failed in the decode thread")
            if self.cancel is not None:
                self.cancel.cancel()
            self.decoder_embedded.set()
        elif self.concurrent_embed and len(self.calls) == 1:
            # The model is "slow": the queue fills and the decoder embeds a batch itself.
            assert self.decoder_embedded.wait(30), "the decode thread never shared the work"
        out = np.empty((len(frames), self.dim), np.float32)
        out[:, 0] = indices
        out[:, 1:] = frames.reshape(len(frames), -1)[:, 1000:1004]
        return out


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("shared") / "c.mp4",
                      ClipSpec(n_frames=240, width=160, height=120, audio_hz=None, b_frames=2))


def _run(events: object) -> tuple[list[Progress], ClipFeatures]:
    items = list(events)  # type: ignore[call-overload]
    assert isinstance(items[-1], ClipFeatures)
    return items[:-1], items[-1]


def test_decoder_shares_the_model_and_rows_match_one_thread(clip: Path) -> None:
    alone = NumpyBackbone(concurrent=False)
    _, reference = _run(extract_features(clip, alone, STEP, with_audio=False))  # type: ignore[arg-type]
    assert {thread for thread, _ in alone.calls} == {"MainThread"}

    shared = NumpyBackbone(concurrent=True)
    progress, features = _run(extract_features(clip, shared, STEP, with_audio=False))  # type: ignore[arg-type]
    np.testing.assert_array_equal(features.visual, reference.visual)
    # Row k holds the frame on screen at k * step (24 fps).
    assert features.visual[:, 0].tolist() == [int(k * STEP * 24 + 1e-9) for k in range(N_STEPS)]
    threads = {thread for thread, _ in shared.calls}
    assert threads == {"MainThread", "highlight-decode"}
    # Every frame embedded exactly once, in slices of at most CPU_SLICE.
    embedded = sorted(i for _, indices in shared.calls for i in indices)
    assert embedded == sorted(reference.visual[:, 0].astype(int).tolist())
    assert max(len(indices) for _, indices in shared.calls) <= CPU_SLICE
    done = [p.done for p in progress]
    assert done[0] == 0 and done[-1] == N_STEPS and done == sorted(done)
    assert not any(t.name == "highlight-decode" for t in threading.enumerate())


def test_an_error_in_the_decode_threads_share_reaches_the_caller(clip: Path) -> None:
    backbone = NumpyBackbone(concurrent=True, fail_in_decoder=True)
    backbone.decoder_embedded.set()  # the main thread does not wait for it
    with pytest.raises(RuntimeError, match="failed in the decode thread"):
        _run(extract_features(clip, backbone, STEP, with_audio=False))  # type: ignore[arg-type]
    assert not any(t.name == "highlight-decode" for t in threading.enumerate())


def test_cancel_while_the_decoder_embeds(clip: Path) -> None:
    token = CancelToken()
    backbone = NumpyBackbone(concurrent=True, cancel=token)
    with pytest.raises(Cancelled):
        _run(extract_features(clip, backbone, STEP, with_audio=False, cancel=token))  # type: ignore[arg-type]
    assert not any(t.name == "highlight-decode" for t in threading.enumerate())
