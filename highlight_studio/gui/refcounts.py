"""Keep None, True and False alive under PySide6 builds that drop references to them.

Measured with PySide6 6.12.0 on Python 3.11: every call of a Qt method that returns nothing
(``QWidget.update()``, ``QLabel.setText()``, ...) takes one reference from None without giving
one back, and emitting a signal does the same to True or False. Python 3.12 made these
objects immortal (PEP 683), so such builds go unnoticed there; on 3.11 None's count reaches
zero and the interpreter aborts ("none_dealloc: deallocating None"). The window (before this
guard, sample clip, offscreen) lost about 260 references per second of playback and 30 per
threshold move, against about 230,000 held once torch is loaded (22,000 without it, as in the
GUI tests): a quarter of an hour of playback, or one test file. On Pythons before 3.12 we give
the three objects the same immortality, by a count no app session can use up.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)
HEADROOM = 1 << 50  # references added: a lost reference per nanosecond would take two weeks


def make_singletons_immortal() -> None:
    """Add HEADROOM references to None, True and False where Python does not already treat
    them as immortal; idempotent enough (a second call only adds more headroom)."""
    if sys.version_info >= (3, 12):
        return
    for obj in (None, True, False):
        count = ctypes.c_ssize_t.from_address(id(obj))
        if count.value != sys.getrefcount(obj) - 1:  # not the layout we know (a debug build)
            log.warning("cannot protect %r from lost references on this Python build", obj)
            return
        count.value += HEADROOM
