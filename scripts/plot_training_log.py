"""Draw a training run's loss terms and collapse diagnostics from its ``.log.jsonl``.

    python scripts/plot_training_log.py RUN.log.jsonl --png OUT.png

Left: each loss term the run trained (the rows of ``LOSS_TERMS`` that are not 0 throughout;
L_s with ln N for chance) against the step. Right: the
METHOD.md collapse diagnostics of the visual branch (spread of s, cosine between steps' r,
SA output / input norm, top/bottom cosine, Spearman of s with the feature norm), so a model
card shows at a glance whether training learned or collapsed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.figure import Figure

from highlight_studio.fileio import atomic_path
from highlight_studio.model.loss_terms import LOSS_TERMS

DIAGNOSTICS = ("visual_s_std", "visual_r_cos", "visual_sa_ratio", "visual_top_bottom_cos",
               "visual_norm_spearman")


def read_log(path: Path) -> list[dict]:
    """The logged events, in step order."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return sorted(rows, key=lambda r: r["step"])


def plot(rows: list[dict], png: Path, title: str) -> None:
    steps = [r["step"] for r in rows]
    fig = Figure(figsize=(11, 4), dpi=110)
    left, right = fig.subplots(1, 2)
    for term in LOSS_TERMS:
        values = [r.get(term.name, 0.0) for r in rows]  # a log older than the term lacks it
        if any(values):
            left.plot(steps, values, label=term.label)
    chance = rows[-1].get("diagnostics", {}).get("scl_ln_n")
    if chance:
        left.axhline(chance, color="grey", ls=":", label="SCL chance (ln N)")
    left.set_xlabel("step")
    left.set_title("loss terms")
    left.legend(fontsize=8)
    for name in DIAGNOSTICS:
        values = [r.get("diagnostics", {}).get(name) for r in rows]
        if any(v is not None for v in values):
            right.plot(steps, values, label=name.removeprefix("visual_"))
    right.axhline(0, color="grey", lw=0.5)
    right.set_xlabel("step")
    right.set_title("collapse diagnostics (visual branch)")
    right.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path)
    parser.add_argument("--png", type=Path, required=True)
    parser.add_argument("--title", default="")
    args = parser.parse_args()
    plot(read_log(args.log), args.png, args.title or args.log.name)


if __name__ == "__main__":
    main()
