"""Importing the node library stays cheap: heavy dependencies load inside ``run``."""

import subprocess
import sys

import pytest


@pytest.mark.slow
def test_importing_the_nodes_does_not_import_httpx():
    code = "import plait.nodes, sys; assert 'httpx' not in sys.modules, 'httpx was imported'"

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
