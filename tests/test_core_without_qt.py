"""The core must run headless: importing every non-GUI module loads no Qt, nor does the
window's document (the open clip's state, which the views observe)."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import highlight_studio

CORE_MODULES = [
    *sorted(m.name
            for m in pkgutil.walk_packages(highlight_studio.__path__, "highlight_studio.")
            if ".gui" not in m.name and m.name != "highlight_studio.__main__"),
    "highlight_studio.gui.document",  # the open clip's state: the views observe it
]


def test_core_modules_are_found() -> None:
    # Guards the test below against silently checking nothing.
    assert "highlight_studio.cli" in CORE_MODULES
    assert "highlight_studio.media" in CORE_MODULES


def test_importing_the_core_loads_no_qt() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {CORE_MODULES!r}: importlib.import_module(name)\n"
        "import highlight_studio.cli as c; c.build_parser()\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('PySide6', 'pyqtgraph', 'shiboken6'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
