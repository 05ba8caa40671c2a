"""For tests of outbound fetches. Witnesses that a fetch made no connection: real local listeners that record what they accept, and an
audit hook that records the test thread's getaddrinfo and connect calls (and stops any connect to an
address off this machine, so that even a broken fetcher sends no packet to a private address from a test).
Import the fixtures into a test module to use them."""
from __future__ import annotations

import ipaddress
import socket
import sys
import threading

import pytest

_watched = threading.local()


def _audit(event: str, args) -> None:
    log = getattr(_watched, "log", None)
    if log is None:
        return
    if event == "socket.getaddrinfo":
        log.append(("getaddrinfo", args[0]))
    elif event == "socket.connect" and isinstance(args[1], tuple):
        host = str(args[1][0])
        log.append(("connect", host))
        ip = ipaddress.ip_address(host.split("%")[0])
        ip = getattr(ip, "ipv4_mapped", None) or ip  # ::ffff:127.0.0.1 stays on this machine too
        if not ip.is_loopback:
            raise PermissionError(f"test guard: no connection to {host} leaves this machine")


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one records only while a test's `watched` is on


@pytest.fixture
def watched():
    """The getaddrinfo and connect calls this test's thread makes, as (event, host)."""
    _watched.log = []
    yield _watched.log
    del _watched.log


def connects(log) -> list[str]:
    return [host for event, host in log if event == "connect"]


class Listener:
    """A real TCP listener that records each connection it accepts, then answers it with `reply` (nothing
    when None: the connection is held open and silent, as a port that is no web server or a stalled one)."""

    def __init__(self, host: str, reply: bytes | None = b""):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen()
        self.port = self.sock.getsockname()[1]
        self.reply = reply
        self.accepted: list = []
        self._held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, peer = self.sock.accept()
            except OSError:
                return
            self.accepted.append(peer)
            if self.reply is None:
                self._held.append(conn)
                continue
            conn.sendall(self.reply)
            conn.close()

    def close(self):
        self.sock.close()
        for conn in self._held:
            conn.close()


@pytest.fixture
def listener():
    """listener(host, reply=b"") -> a Listener, closed after the test."""
    made: list[Listener] = []

    def make(host: str, reply: bytes | None = b"") -> Listener:
        made.append(Listener(host, reply))
        return made[-1]

    yield make
    for one in made:
        one.close()


# what a plain-HTTP port says to a TLS ClientHello: the "SSL WRONG_VERSION_NUMBER"
NOT_TLS = b"HTTP/1.0 400 Bad Request\r\n\r\n"


def one_sentence(text: str) -> str:
    """text, once checked to be an error a user can read: one line, no traceback, no exception repr."""
    assert "\n" not in text and "Traceback" not in text and "Error(" not in text and len(text) < 300, text
    return text
