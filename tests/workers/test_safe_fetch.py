"""The workers fetch user-given URLs through one fetcher that never reaches inside the site's network:
loopback, private, link-local and unique-local addresses (IPv4, IPv6, IPv4-mapped, host names that resolve
to them, redirects to them) are refused before any connection is made, and every failure is one sentence.

Two witnesses that no connection was made (tests/outbound.py): real listeners on the refused loopback
addresses, and an audit hook on the test thread's connects, which also keeps a broken fetcher from sending
anything to a private address.
"""
from __future__ import annotations

import hashlib
import http.server
import ipaddress
import ssl
import threading

import pytest

from leaderboard.files.fetch import FetchPolicy, parse_allowed_networks
from leaderboard.files.store import FetchError, fetch_into_store, store_path
from tests.outbound import NOT_TLS, connects, listener, one_sentence, watched  # noqa: F401  (fixtures)

LOOPBACK_ONLY = FetchPolicy(allowed_networks=parse_allowed_networks("127.0.0.1/32"), connect_timeout=2, read_timeout=2)


def refused(url: str, tmp_path, policy: FetchPolicy | None = None) -> str:
    with pytest.raises(FetchError) as caught:
        fetch_into_store(url, tmp_path / "store", "0" * 64, policy=policy or FetchPolicy())
    assert not any(p.is_file() for p in (tmp_path / "store").rglob("*"))  # nothing half-stored
    return one_sentence(str(caught.value))


@pytest.mark.parametrize("listen_on, url, message", [
    ("127.0.0.1", "https://127.0.0.1:{port}/m.gguf", "refused: 127.0.0.1 is a loopback address"),
    ("::1", "https://[::1]:{port}/m.gguf", "refused: ::1 is a loopback address"),
    ("127.0.0.1", "https://[::ffff:127.0.0.1]:{port}/m.gguf", "refused: ::ffff:7f00:1 is a loopback address"),
    ("127.0.0.1", "https://localhost:{port}/m.gguf", "refused: localhost resolves to 127.0.0.1, a loopback address"),
    ("127.0.0.1", "https://127.1:{port}/m.gguf", "refused: 127.0.0.1 is a loopback address"),
    ("127.0.0.1", "https://2130706433:{port}/m.gguf", "refused: 127.0.0.1 is a loopback address"),
])
def test_loopback_in_every_spelling_is_refused_without_a_connection(listener, watched, tmp_path, listen_on, url, message):
    target = listener(listen_on)
    assert refused(url.format(port=target.port), tmp_path) == message
    assert target.accepted == [] and connects(watched) == []


@pytest.mark.parametrize("url, message", [
    ("https://10.0.0.1/m.gguf", "refused: 10.0.0.1 is a private address"),
    ("https://192.168.1.20:8443/m.gguf", "refused: 192.168.1.20 is a private address"),
    ("https://172.16.5.4/m.gguf", "refused: 172.16.5.4 is a private address"),
    ("https://169.254.169.254/latest/meta-data/", "refused: 169.254.169.254 is a link-local address"),
    ("https://[fd12:3456::1]/m.gguf", "refused: fd12:3456::1 is a unique-local address"),
    ("https://[fe80::1]/m.gguf", "refused: fe80::1 is a link-local address"),
    ("https://[::ffff:10.0.0.1]/m.gguf", "refused: ::ffff:a00:1 is a private address"),
    ("https://100.64.0.1/m.gguf", "refused: 100.64.0.1 is not a public address"),
    ("https://224.0.0.251/m.gguf", "refused: 224.0.0.251 is a multicast address"),
    ("https://0.0.0.0/m.gguf", "refused: 0.0.0.0 is the unspecified address"),
    ("https://[::7f00:1]/m.gguf", "refused: ::7f00:1 is a reserved address"),
])
def test_private_link_local_and_other_inside_addresses_are_refused_without_a_connection(watched, tmp_path, url, message):
    assert refused(url, tmp_path) == message
    assert connects(watched) == []


def test_allowing_loopback_for_a_test_does_not_allow_the_rest_of_loopback(listener, watched, tmp_path):
    other = listener("127.0.0.2")
    assert refused(f"https://127.0.0.2:{other.port}/m.gguf", tmp_path, LOOPBACK_ONLY) == (
        "refused: 127.0.0.2 is a loopback address")
    assert other.accepted == [] and connects(watched) == []


class Redirecting(http.server.BaseHTTPRequestHandler):
    """Answers every request with a redirect to the server's `location` (a path: to itself, one hop less)."""

    def do_GET(self):
        location = self.server.location
        if self.path.startswith("/hops/"):
            left = int(self.path.split("/")[2])
            location = f"/hops/{left - 1}" if left else location
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def redirector(https_server, tmp_path):
    """A real TLS server on 127.0.0.1 that redirects, with the https_server fixture's certificate (which
    tests/conftest.py makes in tmp_path and has the client trust)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_a_redirect_to_a_loopback_address_not_allowed_is_refused_without_a_connection(redirector, listener, watched,
                                                                                      tmp_path):
    inside = listener("127.0.0.2")
    redirector.location = f"https://127.0.0.2:{inside.port}/m.gguf"
    message = refused(f"https://127.0.0.1:{redirector.server_address[1]}/m.gguf", tmp_path, LOOPBACK_ONLY)
    assert message == f"refused: 127.0.0.2 is a loopback address (after a redirect to 127.0.0.2:{inside.port})"
    assert inside.accepted == [] and set(connects(watched)) == {"127.0.0.1"}


def test_a_redirect_to_a_private_address_is_refused_without_a_connection(redirector, watched, tmp_path):
    redirector.location = "https://10.20.30.40/m.gguf"
    message = refused(f"https://127.0.0.1:{redirector.server_address[1]}/m.gguf", tmp_path, LOOPBACK_ONLY)
    assert message == "refused: 10.20.30.40 is a private address (after a redirect to 10.20.30.40)"
    assert set(connects(watched)) == {"127.0.0.1"}


def test_a_redirect_to_plain_http_is_refused(redirector, watched, tmp_path):
    redirector.location = f"http://127.0.0.1:{redirector.server_address[1]}/m.gguf"
    message = refused(f"https://127.0.0.1:{redirector.server_address[1]}/m.gguf", tmp_path, LOOPBACK_ONLY)
    assert message == f"refused: only https URLs are fetched (after a redirect to 127.0.0.1:{redirector.server_address[1]})"


def test_redirects_stop_after_a_few(redirector, tmp_path):
    redirector.location = "/m.gguf"
    message = refused(f"https://127.0.0.1:{redirector.server_address[1]}/hops/9", tmp_path, LOOPBACK_ONLY)
    assert message.startswith("more than 5 redirects")


def test_a_public_looking_url_is_fetched_from_the_address_that_was_checked(https_server, tiny_models, tmp_path,
                                                                          monkeypatch, watched):
    """Loopback allowed for this test only (LEADERBOARD_FETCH_ALLOWED_NETWORKS, empty by default): a URL by
    host name is resolved once, its certificate checked against the name, the connection made to the
    address the check saw (no second lookup of the name, so a rebinding DNS answer cannot redirect it)."""
    monkeypatch.setenv("LEADERBOARD_FETCH_ALLOWED_NETWORKS", "127.0.0.0/8")
    folder, url = https_server
    data = tiny_models["narrow"].read_bytes()
    (folder / "model.gguf").write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    port = url.rsplit(":", 1)[1]
    path, got = fetch_into_store(f"https://localhost:{port}/model.gguf", tmp_path / "store", digest)
    assert got == digest and path == store_path(tmp_path / "store", digest) and path.read_bytes() == data
    names = [host for event, host in watched if event == "getaddrinfo" and _is_name(host)]
    assert names == ["localhost"] and connects(watched) == ["127.0.0.1"]


def _is_name(host) -> bool:
    try:
        ipaddress.ip_address(host)
        return False
    except ValueError:
        return True


def test_each_failure_is_one_sentence(tmp_path, listener, https_server):
    not_tls, silent = listener("127.0.0.1", NOT_TLS).port, listener("127.0.0.1", None).port
    folder, url = https_server
    (folder / "model.gguf").write_bytes(b"GGUF" + b"\0" * 60)
    quick = FetchPolicy(allowed_networks=LOOPBACK_ONLY.allowed_networks, connect_timeout=1, read_timeout=1)
    assert refused("https://no-such-host.invalid/m.gguf", tmp_path) == (
        "the host name no-such-host.invalid does not resolve to an address")
    assert refused(f"https://127.0.0.1:{not_tls}/m.gguf", tmp_path, quick) == (
        f"the TLS connection to 127.0.0.1:{not_tls} failed (wrong version number)")
    assert refused(f"https://127.0.0.1:{silent}/m.gguf", tmp_path, quick) == (
        f"127.0.0.1:{silent} timed out without answering")
    assert refused(f"{url}/missing.gguf", tmp_path, quick) == f"{url[8:]} answered 404 File not found for /missing.gguf"
    assert refused(f"{url}/model.gguf", tmp_path, FetchPolicy(allowed_networks=quick.allowed_networks, max_bytes=10)) == (
        "the file is 64 bytes; the limit is 10")
    # host[:port] only: the path and query of a URL may be secret (a signed link)
    assert refused(f"{url}/model.gguf?sig=s3cret", tmp_path, quick).startswith(
        f"sha256 mismatch: the file from {url[8:]} has sha256 ")
    assert refused("http://example.org/m.gguf", tmp_path) == (
        "unsupported source 'http://example.org/m.gguf': use a local path or an https URL")


def test_a_certificate_the_worker_does_not_trust_is_a_tls_error(https_server, tmp_path, monkeypatch):
    folder, url = https_server
    monkeypatch.delenv("SSL_CERT_FILE")  # the fixture's self-signed certificate is trusted no more
    message = refused(f"{url}/model.gguf", tmp_path, LOOPBACK_ONLY)
    assert message == f"the TLS connection to {url[8:]} failed (certificate verify failed: self-signed certificate)"


def test_only_loopback_networks_may_be_allowed():
    with pytest.raises(ValueError, match="loopback networks only, not 10.0.0.0/8"):
        FetchPolicy.from_environment({"LEADERBOARD_FETCH_ALLOWED_NETWORKS": "127.0.0.1/32, 10.0.0.0/8"})
    assert FetchPolicy.from_environment({}).allowed_networks == ()
