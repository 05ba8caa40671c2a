"""Fetching a base model from an https URL: streamed into the content-addressed store and sha256-verified."""
import hashlib
import http.server
import ssl
import subprocess
import threading

import pytest

from leaderboard.files.store import FetchError, fetch_into_store, store_path


@pytest.fixture
def https_server(tmp_path, monkeypatch):
    """A real HTTPS server on loopback with a self-signed certificate the client is told to trust."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    served = tmp_path / "www"
    served.mkdir()
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=str(served), **kw)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    yield served, f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_url_is_streamed_into_the_store_and_verified(https_server, tiny_models, tmp_path):
    folder, url = https_server
    data = tiny_models["narrow"].read_bytes()
    (folder / "model.gguf").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    seen = []
    path, got = fetch_into_store(f"{url}/model.gguf", tmp_path / "store", digest, progress=seen.append)
    assert got == digest and path == store_path(tmp_path / "store", digest)
    assert path.read_bytes() == data and seen[-1] == 1.0


def test_a_mismatch_fails_clearly_and_leaves_nothing(https_server, tiny_models, tmp_path):
    folder, url = https_server
    (folder / "model.gguf").write_bytes(tiny_models["narrow"].read_bytes())
    with pytest.raises(FetchError, match="sha256 mismatch"):
        fetch_into_store(f"{url}/model.gguf", tmp_path / "store", "0" * 64)
    assert not any(p.is_file() for p in (tmp_path / "store").rglob("*"))


def test_plain_http_and_other_schemes_are_refused(tmp_path):
    with pytest.raises(FetchError, match="use a local path or an https URL"):
        fetch_into_store("http://127.0.0.1:9/model.gguf", tmp_path / "store")
