"""Every process that loads llama.cpp loads its libraries before numpy: a GPU build crashes in the other
order (workers/engine/llamacpp/__init__.py, docs/gpu.md). Checked on the real load order of shared objects
in fresh processes (the dynamic linker's list, in the order they were loaded), for each entry point."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import REPO
from workers.engine.llamacpp import LoadOrderError, load_order_problem

LINK_MAP = textwrap.dedent("""
    import ctypes, json, os

    class LinkMap(ctypes.Structure):
        pass
    LinkMap._fields_ = [("l_addr", ctypes.c_void_p), ("l_name", ctypes.c_char_p), ("l_ld", ctypes.c_void_p),
                        ("l_next", ctypes.POINTER(LinkMap)), ("l_prev", ctypes.POINTER(LinkMap))]
    RTLD_DI_LINKMAP = 2
    libc = ctypes.CDLL(None)
    node = ctypes.POINTER(LinkMap)()
    libc.dlinfo(ctypes.c_void_p(libc._handle), RTLD_DI_LINKMAP, ctypes.byref(node))
    names = []
    while node:
        names.append(os.path.basename((node.contents.l_name or b"").decode()))
        node = node.contents.l_next
    print(json.dumps(names))
""")

ENTRY_POINTS = {
    # `celery -A workers worker`: Celery finds the app, Django's fixup sets Django up, the task modules load
    "celery -A workers": "from celery.app.utils import find_app\n"
                         "app = find_app('workers')\nimport django; django.setup()\n"
                         "app.loader.import_default_modules()\n",
    "python -m workers.demo": "import workers.demo\n",
    "bench/*.py": "import sys; sys.path.insert(0, 'bench')\nimport common\nimport scoring\n",
}


def loaded_objects(code: str) -> list[str]:
    env_code = "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'leaderboard.settings')\n"
    out = subprocess.run([sys.executable, "-c", env_code + code + LINK_MAP], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def position(names: list[str], prefix: str) -> int:
    found = [i for i, name in enumerate(names) if name.startswith(prefix)]
    assert found, f"{prefix} was not loaded: {names}"
    return found[0]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_it_loads_llama_cpp_before_numpy(entry):
    names = loaded_objects(ENTRY_POINTS[entry])
    assert position(names, "libllama") < position(names, "_multiarray_umath")


def test_the_worker_app_loads_llama_cpp_before_django_loads_any_cpp_extension():
    names = loaded_objects(ENTRY_POINTS["celery -A workers"])
    assert position(names, "libllama") < position(names, "_re2")  # google-re2, loaded by the recipe app


def test_a_gpu_build_imported_after_numpy_is_refused_with_the_reason(tmp_path):
    (tmp_path / "libggml-cuda.so").write_bytes(b"")
    problem = load_order_problem(tmp_path, {"numpy": object()})
    assert problem and "libggml-cuda.so" in problem and "before" in problem
    assert issubclass(LoadOrderError, ImportError)


def test_any_order_is_fine_for_a_cpu_build_or_once_llama_cpp_is_loaded(tmp_path):
    assert load_order_problem(tmp_path, {"numpy": object()}) is None  # no GPU backend library
    (tmp_path / "libggml-cuda.so").write_bytes(b"")
    assert load_order_problem(tmp_path, {}) is None
    assert load_order_problem(tmp_path, {"numpy": object(), "llama_cpp.llama_cpp": object()}) is None
