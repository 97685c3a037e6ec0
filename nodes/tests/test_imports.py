"""Importing the node library stays cheap: heavy dependencies load inside ``run``."""

import subprocess
import sys

import pytest

HEAVY = ["httpx", "boto3", "botocore", "qdrant_client", "numpy", "sqlalchemy", "jmespath"]


@pytest.mark.slow
def test_importing_the_nodes_imports_no_heavy_dependency():
    code = (
        "import plait.nodes, sys; "
        f"loaded = [m for m in {HEAVY!r} if m in sys.modules]; "
        "assert not loaded, f'imported at catalogue load: {loaded}'"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)

    assert result.returncode == 0, result.stderr
