"""File dialog filters, built from the core's lists so a dialog never hides a file the core
accepts (the Open dialog and the training panel's clip picker share one)."""

from __future__ import annotations

from ..media import VIDEO_SUFFIXES

# Qt's "label (patterns);;label (patterns)" form; upper-case names match too on Windows and
# macOS (case-insensitive file systems), and "All files" opens anything else PyAV reads.
VIDEO_FILTER = (f"Video ({' '.join(f'*{s}' for s in sorted(VIDEO_SUFFIXES))});;"
                "All files (*)")
