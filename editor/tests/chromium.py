"""Debian's Chromium for the browser tests and bench/editor.py: where it is, how it starts.

Never a downloaded browser. Without the background-networking flags Chromium keeps calling
Google's hosts, which this machine's closed network refuses."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("PLAIT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
