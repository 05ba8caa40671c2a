"""bench/gpu_check.py on a machine without an NVIDIA GPU says so and exits 0."""
import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="this machine may have a GPU: the check would run")
def test_without_a_gpu_it_says_so_and_exits_0():
    out = subprocess.run([sys.executable, "bench/gpu_check.py"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].startswith("no NVIDIA GPU on this machine")
