"""The media manifest is well-formed and the bundled sample clip is the one it records.

No downloads here: the pretraining clips themselves are checked by the fetch script.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import av
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "get_pretraining_media.py"


@pytest.fixture(scope="module")
def fetcher() -> ModuleType:
    """The fetch script as a module, so the test uses its own validator and checksum code."""
    spec = importlib.util.spec_from_file_location("get_pretraining_media", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def manifest(fetcher: ModuleType) -> dict:
    return fetcher.load_manifest(strict=False)


def test_manifest_is_well_formed(fetcher: ModuleType, manifest: dict) -> None:
    assert fetcher.validate_manifest(manifest) == []


def test_manifest_has_the_expected_open_clips(manifest: dict) -> None:
    files = {clip["file"] for clip in manifest["clips"]}
    assert {"bbb.mp4", "trailer_bbb.mp4", "WolfgangLanger_Pexels.mp4", "cityCC0.mpg"} <= files
    assert all(clip["duration"] > 0 and clip["attribution"] for clip in manifest["clips"])


def test_validator_rejects_a_closed_licence(fetcher: ModuleType, manifest: dict) -> None:
    clip = {**manifest["clips"][0], "licence": "All rights reserved", "sha256": "x"}
    problems = fetcher.validate_manifest({**manifest, "clips": [clip]})
    assert any("not an allowed open licence" in p for p in problems)
    assert any("sha256" in p for p in problems)


def test_sample_clip_matches_its_checksum(fetcher: ModuleType, manifest: dict) -> None:
    sample = manifest["sample"]
    path = ROOT / sample["file"]
    assert path.is_file(), f"{sample['file']} is missing; rebuild it with --make-sample"
    assert path.stat().st_size < 5_000_000
    assert fetcher.sha256_of(path) == sample["sha256"]


def test_sample_clip_plays_in_sync(manifest: dict) -> None:
    """Both tracks exist and span the recorded duration, so the demo curve lines up."""
    path = ROOT / manifest["sample"]["file"]
    with av.open(str(path)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.width, video.codec_context.height) == (640, 360)
        ends = [float(s.duration * s.time_base) for s in (video, audio)]
    assert ends == pytest.approx([manifest["sample"]["duration"]] * 2, abs=0.05)


def test_sample_clip_has_attribution(manifest: dict) -> None:
    text = (ROOT / "resources" / "samples" / "ATTRIBUTION.md").read_text(encoding="utf-8")
    name = Path(manifest["sample"]["file"]).name
    for needed in (name, "Blender Foundation", "CC BY 3.0", "Changes made"):
        assert needed in text
