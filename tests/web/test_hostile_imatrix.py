"""A hostile or huge imatrix upload costs the web process nothing: it is parsed in a limited child."""
import resource
import struct
import time

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leaderboard.recipes.models import Recipe
from tests.imatrix_file import write_imatrix

pytestmark = pytest.mark.django_db

GOOD = {"ftype": "Q4_K_M", "title": "with an imatrix", "rules": "attn_v=q6_K"}


def _gguf_string(text: str) -> bytes:
    return struct.pack("<Q", len(text)) + text.encode()


def _array_bomb() -> bytes:
    """GGUF v3, 0 tensors, one key imatrix.datasets typed as a uint8 array of 2^40 elements: 164 bytes."""
    body = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _gguf_string("imatrix.datasets") + struct.pack("<IIQ", 9, 0, 2 ** 40)
    return body.ljust(164, b"\0")


def _big_imatrix(n_entries: int, n_cols: int) -> bytes:
    """A valid imatrix with n_entries in_sum2/counts pairs, written directly (gguf's writer is slow at this size)."""
    kvs = _gguf_string("general.type") + struct.pack("<I", 8) + _gguf_string("imatrix")
    infos, offset = [], 0
    for i in range(n_entries):
        for suffix, cols in ((".in_sum2", n_cols), (".counts", 1)):
            infos.append(_gguf_string(f"blk.{i}.ffn_down.weight{suffix}") + struct.pack("<IQQIQ", 2, cols, 1, 0, offset))
            offset += (cols * 4 + 31) // 32 * 32
    header = b"GGUF" + struct.pack("<IQQ", 3, 2 * n_entries, 1) + kvs + b"".join(infos)
    header = header.ljust((len(header) + 31) // 32 * 32, b"\0")
    return header + b"\0" * offset


def _post(user, base_model, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    upload = SimpleUploadedFile("imatrix.gguf", content)
    return client.post("/api/recipes/", {**GOOD, "base_model": base_model.name, "imatrix": upload}, format="multipart")


def test_the_164_byte_array_bomb_gets_a_clean_400_fast(alice, base_model):
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    response = _post(alice, base_model, _array_bomb())
    assert time.monotonic() - started < 5
    assert response.status_code == 400
    [message] = response.json()["errors"]["imatrix"]
    assert "1099511627776 elements of 'imatrix.datasets'" in message and "past the end" in message
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 50_000  # KiB
    assert not Recipe.objects.exists()


@pytest.mark.parametrize("hostile,why", [
    (b"GGUF" + struct.pack("<IQQ", 3, 2 ** 60, 0), "claims 1152921504606846976 tensors"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2 ** 62), "a key is 4611686018427387904 bytes"),
    (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _gguf_string("k") + struct.pack("<IIQ", 9, 8, 2 ** 61), "strings of 'k'"),
    (b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + _gguf_string("t") + struct.pack("<I4QIQ", 4, *[2 ** 16] * 4, 0, 0),
     "the data of tensor 't' runs past the end of the file"),
    (b"GGUF" + struct.pack("<IQQ", 3, 1, 0) + _gguf_string("t") + struct.pack("<I", 2 ** 31), "has 2147483648 dimensions"),
])
def test_every_count_and_length_is_bounded_by_the_file(alice, base_model, hostile, why):
    response = _post(alice, base_model, hostile.ljust(200, b"\0"))
    assert response.status_code == 400
    assert why in response.json()["errors"]["imatrix"][0]


def test_the_child_process_is_limited_in_memory(alice, base_model, settings, tiny_models, tmp_path):
    settings.UPLOAD_CHECK_MEMORY_BYTES = 1024 * 1024  # too little for Python itself: the check must fail cleanly
    response = _post(alice, base_model, write_imatrix(tmp_path / "i.gguf", tiny_models["wide"]).read_bytes())
    assert response.status_code == 400
    assert "out of memory or time" in response.json()["errors"]["imatrix"][0]


def test_a_big_valid_imatrix_is_checked_in_about_a_second_and_not_again_as_a_duplicate(alice, bob, base_model):
    content = _big_imatrix(75_000, 64)  # 150,000 tensors, about 26 MB
    assert len(content) > 20_000_000
    started = time.monotonic()
    first = _post(alice, base_model, content)
    first_seconds = time.monotonic() - started
    assert first.status_code == 201, first.content
    assert len(Recipe.objects.get().imatrix_tensors) == 75_000
    assert first_seconds < 8, first_seconds
    started = time.monotonic()
    again = _post(bob, base_model, content)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert time.monotonic() - started < first_seconds / 2
