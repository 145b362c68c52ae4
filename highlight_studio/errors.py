"""One exception tree whose messages are written for the person using the app.

Callers (CLI, GUI) catch :class:`HighlightStudioError` and show ``str(exc)`` as is; anything
else escaping the core is a bug and is shown with its traceback.
"""

from __future__ import annotations


class HighlightStudioError(Exception):
    """Base of every error the core raises on purpose."""


class MediaError(HighlightStudioError):
    """A clip cannot be read: missing, unreadable, truncated, no video stream, zero length."""


class FeatureError(HighlightStudioError):
    """Features cannot be computed or loaded (unknown backbone, missing weights, bad cache)."""


class ModelError(HighlightStudioError):
    """A checkpoint is missing, corrupt, or does not fit the features it is given."""


class DatasetError(HighlightStudioError):
    """A training or benchmark folder is missing pieces or is in the wrong format."""


class ExportError(HighlightStudioError):
    """An export cannot be written or did not verify after writing."""


class FeedbackError(HighlightStudioError):
    """An editor's decisions or a profile cannot be read, written, or used with these
    features (another backbone or step)."""


class NothingSelected(ExportError):
    """The model found no part of the clip above the threshold: nothing to export. Its own
    exit code lets a batch script tell a quiet clip from a failure."""
