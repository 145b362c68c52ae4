"""Export edge cases found by an adversarial run: odd names, odd files, odd streams."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from clipgen import ClipSpec, write_clip

from highlight_studio.errors import MediaError
from highlight_studio.export.cuts import CutOptions, CutResult, cut_clips
from highlight_studio.export.timeline import build_timeline
from highlight_studio.export.timelines import write_edl, write_fcpxml, write_otio
from highlight_studio.media import probe
from highlight_studio.segments import Segment

SMALL = ClipSpec(n_frames=48, width=160, height=120)


def cut(path: Path, out: Path, segments: list[Segment], **options: object) -> list[CutResult]:
    info = probe(path)
    timeline = build_timeline(info, segments)
    events = cut_clips(timeline, info, out, CutOptions(**options))  # type: ignore[arg-type]
    return [e for e in events if isinstance(e, CutResult)]


def test_a_newline_in_the_clip_name_is_sanitised_in_the_edl_only(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "take\none.mp4", SMALL)
    timeline = build_timeline(probe(clip), [Segment(0.5, 1.0)])
    edl = write_edl(timeline, tmp_path / "cuts.edl").read_text(encoding="utf-8")
    assert "take_one.mp4" in edl and "take\none" not in edl
    assert "take\\none.mp4" in write_otio(timeline, tmp_path / "cuts.otio").read_text()
    assert "one.mp4" in write_fcpxml(timeline, tmp_path / "cuts.fcpxml").read_text()


def test_a_clip_name_too_long_for_its_cuts_is_shortened_with_a_digest(tmp_path: Path) -> None:
    stems = ["é" * 118 + "a", "é" * 118 + "b"]  # 237 bytes each, alike for 236
    for stem in stems:
        write_clip(tmp_path / f"{stem}.mp4", SMALL)
    out = tmp_path / "out"
    out.mkdir()
    names = []
    for stem in stems:
        results = cut(tmp_path / f"{stem}.mp4", out, [Segment(0.5, 1.0), Segment(1.2, 1.6)],
                      mode="fast")
        names += [r.path.name for r in results]
    assert all(len(os.fsencode(n)) <= 255 and n.endswith(".mp4") for n in names)
    assert all(n.startswith("é" * 50) for n in names)
    assert len(set(names)) == 4  # the digest tells the clips apart, the index the cuts
    assert sorted(p.name for p in out.iterdir()) == sorted(names)


def test_a_fifo_is_refused_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "clip.mp4"
    os.mkfifo(fifo)
    with pytest.raises(MediaError, match="not a regular file"):
        probe(fifo)
