"""What per-read timeouts do not cover, against real TLS servers on loopback: a server that trickles its
answer or its body is cut off by wall-clock limits (the answer's deadline, the body's minimum rate), while
a slow but steady one is not; and the certificate is checked against the URL's host name, not against the
address the fetcher pinned."""
from __future__ import annotations

import http.server
import ssl
import subprocess
import threading
import time

import pytest

from leaderboard.files.fetch import FetchPolicy, parse_allowed_networks
from leaderboard.files.store import FetchError, fetch_into_store
from tests.outbound import one_sentence

LOOPBACK = parse_allowed_networks("127.0.0.0/8")


class Handler(http.server.BaseHTTPRequestHandler):
    """/trickle: a 200 whose body comes a byte every 0.1 s; /slow-headers: headers a byte every 0.3 s;
    /steady: 2000 bytes in 100-byte pieces every 0.05 s (2000 bytes a second)."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        try:
            if self.path == "/slow-headers":
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nX-Padding: " + b"x" * 100:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.3)
                return
            size, piece, pause = {"/trickle": (100, 1, 0.1), "/steady": (2000, 100, 0.05)}.get(self.path, (4, 4, 0))
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            for _ in range(size // piece):
                self.wfile.write(b"x" * piece)
                self.wfile.flush()
                time.sleep(pause)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the fetcher gave up on us: what these tests want

    def log_message(self, *args):
        pass


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """tls_server(subject_alt_name) -> the port of a real TLS server on 127.0.0.1 whose self-signed
    certificate names only subject_alt_name (the client is told to trust it); shut down after the test."""
    servers = []

    def start(san: str) -> int:
        cert, key = tmp_path / f"{len(servers)}.pem", tmp_path / f"{len(servers)}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test",
                        "-addext", f"subjectAltName={san}", "-keyout", key, "-out", cert], check=True, capture_output=True)
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()


def fetch(url: str, tmp_path, **policy) -> bytes:
    path, _ = fetch_into_store(url, tmp_path / "store", policy=FetchPolicy(allowed_networks=LOOPBACK, **policy))
    return path.read_bytes()


def failure(url: str, tmp_path, **policy) -> tuple[str, float]:
    start = time.monotonic()
    with pytest.raises(FetchError) as caught:
        fetch(url, tmp_path, **policy)
    assert not any(p.is_file() for p in (tmp_path / "store").rglob("*"))  # nothing half-stored
    return one_sentence(str(caught.value)), time.monotonic() - start


def test_a_body_that_trickles_is_cut_off_by_the_minimum_rate(tls_server, tmp_path):
    """A byte every 0.1 s never trips a 5 s read timeout; under 100 bytes a second over 1 s, it is stopped
    (the 100 bytes would otherwise take 10 s, and a byte every 29 s against the defaults, days)."""
    port = tls_server("DNS:localhost,IP:127.0.0.1")
    message, took = failure(f"https://127.0.0.1:{port}/trickle", tmp_path, read_timeout=5,
                            min_bytes_per_second=100, rate_window=1)
    assert message == f"127.0.0.1:{port} sent the file too slowly (less than 100 bytes a second over 1 s)"
    assert took < 3


def test_an_answer_whose_headers_trickle_is_cut_off_by_its_deadline(tls_server, tmp_path):
    port = tls_server("DNS:localhost,IP:127.0.0.1")
    message, took = failure(f"https://127.0.0.1:{port}/slow-headers", tmp_path, connect_timeout=1, read_timeout=1)
    assert message == f"127.0.0.1:{port} did not answer within 2 s"
    assert took < 4


def test_a_slow_but_steady_body_above_the_rate_is_fetched(tls_server, tmp_path):
    """2000 bytes a second in pieces against a minimum of 500 over 0.5 s windows: counted as they arrive,
    not per 4 MiB block, so it is never taken for a stall."""
    port = tls_server("DNS:localhost,IP:127.0.0.1")
    assert fetch(f"https://127.0.0.1:{port}/steady", tmp_path, min_bytes_per_second=500, rate_window=0.5) == b"x" * 2000


def test_the_certificate_is_checked_against_the_host_name_not_the_pinned_address(tls_server, tmp_path):
    """The connection goes to the address the fetcher resolved and checked (127.0.0.1); the certificate
    must still be the host's: a certificate for the name only is taken, one for the address only is not."""
    named = tls_server("DNS:localhost")
    assert fetch(f"https://localhost:{named}/file", tmp_path / "named") == b"xxxx"
    addressed = tls_server("IP:127.0.0.1")
    message, _ = failure(f"https://localhost:{addressed}/file", tmp_path / "addressed")
    assert message == (f"the TLS connection to localhost:{addressed} failed"
                       " (certificate verify failed: it is not valid for localhost)")
