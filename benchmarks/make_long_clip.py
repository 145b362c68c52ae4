"""Build the clips for speed and memory benchmarks from the fetched pretraining media.

Two outputs, both by stream copy (packets are remuxed, nothing is decoded or re-encoded, so it
takes seconds and the picture is bit-identical to the source):

* ``data/long/bbb_2h.mp4``: a long clip (default about 2 hours) made by concatenating the input
  clips in turn, again and again; by default ``bbb.mp4`` (596.5 s) 12 times = 1 h 59 min.
  Each piece's timestamps are shifted by the end of the previous piece, so audio and video
  stay in step across the joins.
* ``data/bench/bbb_60s_720p.mp4``: the first minute of ``bbb.mp4`` (1280x720 H.264 + AAC), cut
  at the first keyframe at or after 60 s so every GOP is whole; the engine's speed figure.

Stream copy only works when every input has the same codecs and codec settings (size, pixel
format, sample rate, codec headers); mixed inputs are refused with the field that differs.
Fetch the clips first with ``python scripts/get_pretraining_media.py --clips bbb.mp4``. A JSON
file next to each output records how it was made.

    python benchmarks/make_long_clip.py                    # both outputs
    python benchmarks/make_long_clip.py --only long --hours 0.5
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT / "data" / "media"
DEFAULT_LONG = ROOT / "data" / "long" / "bbb_2h.mp4"
DEFAULT_BENCH = ROOT / "data" / "bench" / "bbb_60s_720p.mp4"
FETCH_HINT = "fetch it with `python scripts/get_pretraining_media.py --clips {name}`"


class ClipBuildError(Exception):
    """A failure the user can act on; the message says what to do."""


@dataclass(frozen=True)
class BuildReport:
    """What was written: recorded next to the output as JSON."""

    output: str
    mode: str
    pieces: list[str]
    duration_s: float
    video_packets: int
    audio_packets: int
    size_bytes: int


def _streams(container: av.container.InputContainer) -> list[av.stream.Stream]:
    """The video and audio streams that get copied (data and subtitle streams are dropped)."""
    return [s for s in container.streams if s.type in ("video", "audio")]


def _signature(stream: av.stream.Stream) -> dict[str, Any]:
    """Codec settings that must be equal for packets of two files to share one output stream."""
    cc = stream.codec_context
    sig: dict[str, Any] = {"type": stream.type, "codec": cc.name, "extradata": cc.extradata}
    if stream.type == "video":
        sig |= {"size": (cc.width, cc.height), "pix_fmt": cc.format.name if cc.format else None}
    else:
        sig |= {"sample_rate": cc.sample_rate, "channels": cc.channels}
    return sig


def check_compatible(paths: list[Path]) -> None:
    """Refuse inputs that cannot be stream-copied into one file, naming what differs."""
    first: list[dict[str, Any]] | None = None
    for path in paths:
        if not path.is_file():
            raise ClipBuildError(f"{path} not found; " + FETCH_HINT.format(name=path.name))
        with av.open(str(path)) as container:
            sigs = [_signature(s) for s in _streams(container)]
        if first is None:
            first = sigs
            continue
        if [s["type"] for s in sigs] != [s["type"] for s in first]:
            raise ClipBuildError(
                f"{path.name} has streams {[s['type'] for s in sigs]}, {paths[0].name} has "
                f"{[s['type'] for s in first]}: stream copy needs the same streams in each input"
            )
        for ours, theirs in zip(sigs, first, strict=True):
            for key, value in ours.items():
                if value != theirs[key]:
                    what = (
                        "codec headers (extradata)" if key == "extradata"
                        else f"{key} ({value!r} != {theirs[key]!r})"
                    )
                    raise ClipBuildError(
                        f"{path.name} and {paths[0].name} differ in {ours['type']} {what}: "
                        "stream copy needs identical codec settings; use inputs encoded the "
                        "same way"
                    )


def _piece_end(path: Path) -> Fraction:
    """Where the next piece starts: the end of the longest stream, in seconds."""
    with av.open(str(path)) as container:
        ends = [
            Fraction((s.start_time or 0) + s.duration) * s.time_base
            for s in _streams(container)
            if s.duration
        ]
    if not ends:
        raise ClipBuildError(f"{path.name} does not say how long its streams are")
    return max(ends)


def plan_pieces(paths: list[Path], target_s: float) -> list[Path]:
    """Cycle through ``paths`` to the whole number of pieces that lands nearest ``target_s``."""
    lengths = {p: _piece_end(p) for p in paths}
    pieces: list[Path] = []
    total = Fraction(0)
    while True:
        nxt = paths[len(pieces) % len(paths)]
        if pieces and total + lengths[nxt] / 2 >= target_s:
            return pieces
        pieces.append(nxt)
        total += lengths[nxt]


def concat_copy(pieces: list[Path], output: Path) -> BuildReport:
    """Remux ``pieces`` one after another into ``output`` without re-encoding.

    Packets keep their own timestamps plus the summed length of the pieces before them, one
    offset in seconds shared by all streams so that sync holds at every join. In pieces after
    the first, packets before t = 0 (codec priming that an edit list hides at the start of a
    file) are dropped, since mid-file they would be played and push the audio late.
    """
    check_compatible(sorted(set(pieces)))
    counts = {"video": 0, "audio": 0}
    offset = Fraction(0)
    with _atomic_output(output) as tmp, av.open(str(tmp), "w", format="mp4") as out:
        outs: list[av.stream.Stream] = []
        for n, path in enumerate(pieces):
            print(f"  piece {n + 1}/{len(pieces)}: {path.name} at {float(offset):.1f} s",
                  flush=True)
            with av.open(str(path)) as inp:
                streams = _streams(inp)
                if not outs:
                    outs = [out.add_stream_from_template(s) for s in streams]
                last_dts: dict[int, int] = {}
                for packet in inp.demux(streams):
                    if packet.dts is None or packet.pts is None:
                        continue  # the demuxer's empty flush packet
                    if n and packet.pts < 0:
                        continue
                    tb = packet.time_base
                    shift = round(offset / tb)
                    packet.pts += shift
                    packet.dts += shift
                    _check_monotonic(last_dts, packet, path)
                    packet.stream = outs[streams.index(packet.stream)]
                    out.mux(packet)
                    counts[packet.stream.type] += 1
            offset += _piece_end(path)
    return _report(output, "stream copy (concatenated, timestamps offset)", pieces, offset,
                   counts)


def _check_monotonic(last_dts: dict[int, int], packet: av.Packet, path: Path) -> None:
    """MP4 needs rising decode timestamps; say so plainly instead of a muxer error."""
    index = packet.stream.index
    if index in last_dts and packet.dts <= last_dts[index]:
        raise ClipBuildError(
            f"{path.name}: {packet.stream.type} decode timestamps go backwards "
            f"({packet.dts} after {last_dts[index]}); this file cannot be stream-copied"
        )
    last_dts[index] = packet.dts


def cut_copy(source: Path, output: Path, seconds: float) -> BuildReport:
    """Copy the start of ``source`` up to the first video keyframe at or after ``seconds``.

    Stopping just before a keyframe (in decode order) means every GOP kept is whole, so the
    clip decodes cleanly to its last frame; audio is kept up to the same time.
    """
    if not source.is_file():
        raise ClipBuildError(f"{source} not found; " + FETCH_HINT.format(name=source.name))
    counts = {"video": 0, "audio": 0}
    with av.open(str(source)) as inp:
        streams = _streams(inp)
        if not inp.streams.video:
            raise ClipBuildError(f"{source.name} has no video to cut at a keyframe")
        video = inp.streams.video[0]
        cut = _keyframe_at_or_after(source, seconds)
        with _atomic_output(output) as tmp, av.open(str(tmp), "w", format="mp4") as out:
            outs = {s.index: out.add_stream_from_template(s) for s in streams}
            past_cut = False  # video: everything from the cut keyframe on, in decode order
            for packet in inp.demux(streams):
                if packet.dts is None or packet.pts is None:
                    continue
                if packet.stream is video:
                    past_cut = past_cut or (packet.is_keyframe and packet.pts * video.time_base
                                            >= cut)
                    if past_cut:
                        continue
                elif packet.pts * packet.time_base >= cut:
                    continue
                packet.stream = outs[packet.stream.index]
                out.mux(packet)
                counts[packet.stream.type] += 1
    return _report(output, f"stream copy (cut at keyframe {float(cut):.3f} s)", [source], cut,
                   counts)


def _keyframe_at_or_after(source: Path, seconds: float) -> Fraction:
    """Presentation time of the first video keyframe at or after ``seconds`` (or the end)."""
    with av.open(str(source)) as inp:
        video = inp.streams.video[0]
        for packet in inp.demux(video):
            if packet.pts is not None and packet.is_keyframe:
                t = packet.pts * packet.time_base
                if t >= seconds:
                    return Fraction(t)
    return _piece_end(source)


@contextmanager
def _atomic_output(target: Path) -> Iterator[Path]:
    """Yield a hidden temporary name in the target folder; rename it on success only."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _report(output: Path, mode: str, pieces: list[Path], duration: Fraction,
            counts: dict[str, int]) -> BuildReport:
    report = BuildReport(
        output=str(output.relative_to(ROOT) if output.is_relative_to(ROOT) else output),
        mode=mode,
        pieces=[p.name for p in pieces],
        duration_s=round(float(duration), 3),
        video_packets=counts["video"],
        audio_packets=counts["audio"],
        size_bytes=output.stat().st_size,
    )
    output.with_suffix(".json").write_text(json.dumps(asdict(report), indent=2) + "\n")
    return report


def _describe(report: BuildReport) -> Iterator[str]:
    minutes = report.duration_s / 60
    yield f"wrote {report.output}: {minutes:.1f} min, {report.size_bytes / 1e6:.0f} MB"
    yield f"  {report.mode}; {len(report.pieces)} piece(s): {', '.join(sorted(set(report.pieces)))}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("long", "bench"), help="build just one output")
    parser.add_argument("--inputs", nargs="+", type=Path, default=[MEDIA / "bbb.mp4"],
                        help="clips to concatenate for the long clip (default: data/media/bbb.mp4)")
    parser.add_argument("--hours", type=float, default=2.0, help="target length of the long clip")
    parser.add_argument("--long-out", type=Path, default=DEFAULT_LONG)
    parser.add_argument("--bench-source", type=Path, default=MEDIA / "bbb.mp4")
    parser.add_argument("--bench-seconds", type=float, default=60.0)
    parser.add_argument("--bench-out", type=Path, default=DEFAULT_BENCH)
    args = parser.parse_args(argv)
    if not math.isfinite(args.hours) or args.hours <= 0:
        parser.error("--hours must be positive")

    try:
        if args.only in (None, "long"):
            check_compatible(args.inputs)
            pieces = plan_pieces(args.inputs, args.hours * 3600)
            print(f"building {args.long_out} from {len(pieces)} piece(s) ...", flush=True)
            print("\n".join(_describe(concat_copy(pieces, args.long_out))))
        if args.only in (None, "bench"):
            print(f"building {args.bench_out} ...", flush=True)
            report = cut_copy(args.bench_source, args.bench_out, args.bench_seconds)
            print("\n".join(_describe(report)))
    except (ClipBuildError, av.error.FFmpegError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
