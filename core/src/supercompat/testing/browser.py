"""Headless Chromium for the dashboard's tests and benchmark: Debian's (``apt-get install chromium``) or
the executable ``$SUPERCOMPAT_CHROMIUM`` names, driven by Playwright (``pip install playwright``), which
is only the driver here: it never downloads a browser."""

from __future__ import annotations

import os
from typing import Any

# Without the background-networking flags Chromium's own connections (updates, sync, QUIC probes) are
# refused on a closed network, which slows it down and fills its log.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
MISSING = ("No Chromium at {}: install Debian's chromium package (apt-get install chromium), or set "
           "SUPERCOMPAT_CHROMIUM to a Chromium executable.")


def chromium_path() -> str:
    return os.environ.get("SUPERCOMPAT_CHROMIUM", "/usr/bin/chromium")


def launch_chromium(playwright: Any, executable: str | None = None) -> Any:
    """A headless Chromium (a Playwright ``Browser``) from ``playwright`` (``sync_playwright()``'s)."""
    executable = executable or chromium_path()
    if not os.access(executable, os.X_OK):
        raise FileNotFoundError(MISSING.format(executable))
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


__all__ = ["CHROMIUM_ARGS", "chromium_path", "launch_chromium"]
