"""The one way the site fetches a URL someone gave it (a proposed base model, an experiment arm's GGUF, a
corpus or a task suite): https only, and never to an address inside the network the worker sits in.

A worker runs inside the site's network, next to PostgreSQL, Redis and cloud metadata endpoints; a URL
that reaches them turns every logged-in user into a port scanner. So each host is resolved once, the
address is checked, and the connection goes to that very address (the certificate and SNI still name the
host): a DNS answer that changes between the check and the connect (rebinding) cannot move it.
requests-hardened does the resolve-once-and-pin part (and refuses the ranges it knows); on the address it
pinned we apply this module's policy, which is stricter: only globally routable unicast addresses.
Redirects are followed here, hop by hop, through the same check; errors are one sentence a user can read.
Per-read timeouts alone let a server that sends a byte just before each timeout hold a worker for hours,
so each answer has a wall-clock deadline and the body a minimum rate (_Deadline).

No Django here (leaderboard/files is shared with the workers' engine): the few knobs come from the
environment, LEADERBOARD_FETCH_*, read when a fetch starts (docs/deploy.md, "Security settings").
"""
from __future__ import annotations

import contextlib
import ipaddress
import os
import math
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from urllib3.util.ssl_match_hostname import CertificateError
from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES, InvalidIPAddress
from requests_hardened.ip_filter_adapter import IPFilterAdapter

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
GIB = 1024 ** 3
USER_AGENT = "gguf-leaderboard-worker"


class FetchError(RuntimeError):
    """A fetch that failed for a reason the person who gave the URL can act on; str() is one sentence."""


class FetchConfigError(ValueError):
    """A LEADERBOARD_FETCH_* variable the fetcher cannot use; str() names it. Raised at process start
    (BaseModelsConfig.ready), so a bad value stops the process instead of failing requests."""


@dataclass(frozen=True)
class FetchPolicy:
    # Addresses let through although they are not public: loopback networks only, for tests and a
    # one-machine setup that serves its files on loopback. Empty in production.
    allowed_networks: tuple[Network, ...] = ()
    # urllib3 2 runs the TLS handshake under the connect timeout; read_timeout is the longest silence
    # between two reads after it (waiting for the answer, then within the body)
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    max_redirects: int = 5
    max_bytes: int = 256 * GIB  # an F16 70B model is ~140 GB; nothing the site measures is larger
    # The body must bring min_bytes_per_second * rate_window bytes in every rate_window seconds (the first
    # window is the grace period for a slow start); 0 turns the check off. Far below what a model file
    # needs to arrive within RUN_SOFT_TIME_LIMIT: it only cuts off servers that trickle.
    min_bytes_per_second: float = 256 * 1024
    rate_window: float = 60.0

    @classmethod
    def from_environment(cls, environ=os.environ) -> FetchPolicy:
        def number(name: str, default: float) -> float:
            text = environ.get(f"LEADERBOARD_FETCH_{name}") or ""
            try:
                value = float(text) if text else default
            except ValueError:
                value = math.nan
            if not (math.isfinite(value) and value >= 0):
                raise FetchConfigError(f"LEADERBOARD_FETCH_{name} must be a number of 0 or more, not {text!r}")
            return value

        return cls(allowed_networks=parse_allowed_networks(environ.get("LEADERBOARD_FETCH_ALLOWED_NETWORKS", "")),
                   connect_timeout=number("CONNECT_TIMEOUT", cls.connect_timeout),
                   read_timeout=number("READ_TIMEOUT", cls.read_timeout),
                   max_redirects=int(number("MAX_REDIRECTS", cls.max_redirects)),
                   max_bytes=int(number("MAX_BYTES", cls.max_bytes)),
                   min_bytes_per_second=number("MIN_BYTES_PER_SECOND", cls.min_bytes_per_second),
                   rate_window=number("RATE_WINDOW", cls.rate_window) or cls.rate_window)


def parse_allowed_networks(text: str) -> tuple[Network, ...]:
    networks = []
    for part in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(part))
        except ValueError:
            raise FetchConfigError(f"LEADERBOARD_FETCH_ALLOWED_NETWORKS: {part!r} is not a network"
                                   " (give loopback networks such as 127.0.0.1/32, comma-separated)") from None
    for net in networks:
        # requests-hardened refuses private ranges before our policy sees the address; allowing one here
        # would look like it works and not. Loopback is what tests and a single machine need.
        if not (net.network_address.is_loopback and net.broadcast_address.is_loopback):
            raise FetchConfigError(f"LEADERBOARD_FETCH_ALLOWED_NETWORKS may list loopback networks only, not {net}")
    return tuple(networks)


def address_kind(ip: Address) -> str | None:
    """What makes an address one the site does not fetch from ('a loopback address'); None for a public one."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1 on the wire
    for test, kind in ((ip.is_unspecified, "the unspecified address"), (ip.is_loopback, "a loopback address"),
                       (ip.is_link_local, "a link-local address"), (ip.is_multicast, "a multicast address"),
                       (ip.version == 6 and ip in _UNIQUE_LOCAL, "a unique-local address"),
                       (ip.version == 6 and ip.is_site_local, "a site-local address"),
                       (ip.is_private, "a private address"), (ip.is_reserved, "a reserved address"),
                       (any(ip in net for net in EXTRA_BLOCKED_NET_RANGES), "not a public address"),
                       (not ip.is_global, "not a public address")):
        if test:
            return kind
    return None


_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")


def address_refusal(ip: Address, policy: FetchPolicy) -> str | None:
    """'127.0.0.1 is a loopback address' when the policy refuses ip; None when it may be fetched from."""
    if any(ip in net for net in policy.allowed_networks):
        return None
    kind = address_kind(ip)
    return f"{ip} is {kind}" if kind else None


def _literal_address(host: str) -> Address | None:
    """The address a host names without any DNS lookup, in every form the C library connects to
    (127.1, 0x7f.1 and 2130706433 are 127.0.0.1), not only the dotted quad, nor only without the
    trailing dot of a fully qualified name (127.0.0.1. resolves to 127.0.0.1)."""
    if host.endswith(".") and not host.endswith(".."):
        host = host[:-1]
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError, UnicodeError):
        return None


def url_refusal(url: str, policy: FetchPolicy | None = None) -> str | None:
    """Why a URL will not be fetched, as far as the URL alone tells (submit time: no DNS lookup);
    None when it may be tried. The worker checks again, on the address the host resolves to."""
    policy = policy or FetchPolicy.from_environment()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a port that is not a number)
    except ValueError:
        return "refused: this is not a URL the site can fetch"
    if parts.scheme.lower() != "https":
        return "refused: only https URLs are fetched"
    if not parts.hostname:
        return "refused: the URL names no host"
    ip = _literal_address(parts.hostname)
    reason = ip and address_refusal(ip, policy)
    return f"refused: {reason}" if reason else None


class _Deadline:
    """A wall-clock limit that per-read timeouts cannot give. A thread sleeps until the deadline and, if it
    passes, shuts down every socket of the fetch, which ends whatever connect, handshake or read is blocked
    on one (the fetching thread then raises `reason`). The fetching thread moves the deadline as it goes.

    It holds a dup() of each socket: the watched socket object is detached when TLS wraps it, and a dup
    keeps the descriptor from being reused by an unrelated socket before the shutdown lands."""

    def __init__(self):
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._sockets: list[socket.socket] = []
        self._until, self._why = math.inf, ""
        self.reason: str | None = None  # set once the deadline has passed
        self._done = False
        threading.Thread(target=self._wait, daemon=True, name="fetch-deadline").start()

    def set(self, seconds: float, reason: str) -> None:
        with self._lock:
            self._until, self._why = time.monotonic() + seconds, reason
        self._wake.set()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            if self._done:
                return
            self._sockets.append(sock.dup())
            if self.reason:
                self._shut_down()

    def close(self) -> None:
        with self._lock:
            self._done = True
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()
        self._wake.set()

    def _wait(self) -> None:
        while True:
            with self._lock:
                if self._done:
                    return
                left = self._until - time.monotonic()
                if left <= 0:
                    self.reason = self._why
                    self._shut_down()
                    return
            self._wake.wait(min(left, 3600))
            self._wake.clear()  # a set() after this is seen by the next wait; one before it, by `left`

    def _shut_down(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _WatchedConnection(urllib3.connection.HTTPSConnection):
    """Hands each new socket to the fetch's _Deadline before the TLS handshake starts (the per-fetch
    subclass made in _CheckedAdapter.init_poolmanager sets `deadline`)."""

    deadline: _Deadline

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        self.deadline.watch(sock)
        return sock


class _CheckedAdapter(IPFilterAdapter):
    """requests-hardened's adapter resolves the host once and connects to that address; we check the
    address it pinned against our policy before any connection is made."""

    def __init__(self, policy: FetchPolicy, deadline: _Deadline):
        self.policy, self.deadline = policy, deadline  # before super(), which calls init_poolmanager
        super().__init__(is_https_proto=True, allow_loopback=bool(policy.allowed_networks))

    def init_poolmanager(self, *args, **kwargs):
        # trust what the system trusts (and SSL_CERT_FILE), as the urllib fetcher before this one did
        kwargs["ssl_context"] = ssl.create_default_context()
        super().init_poolmanager(*args, **kwargs)
        connection = type("Connection", (_WatchedConnection,), {"deadline": self.deadline})
        pool = type("Pool", (urllib3.HTTPSConnectionPool,), {"ConnectionCls": connection})
        self.poolmanager.pool_classes_by_scheme = {"https": pool}

    def build_connection_pool_key_attributes(self, request, verify, cert=None):
        host = urlsplit(request.url).hostname or ""
        try:
            host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        except InvalidIPAddress as exc:
            ip = ipaddress.ip_address(str(exc.args[0]))
            raise FetchError(_refused(host, ip, address_kind(ip) or "not a public address")) from exc
        except requests.ConnectionError as exc:  # raised by requests-hardened when getaddrinfo fails
            raise FetchError(f"the host name {host} does not resolve to an address") from exc
        ip = ipaddress.ip_address(host_params["host"].strip("[]"))
        if address_refusal(ip, self.policy):
            raise FetchError(_refused(host, ip, address_kind(ip)))
        return host_params, pool_kwargs


def _refused(host: str, ip: Address, kind: str) -> str:
    if _literal_address(host) == ip:
        return f"refused: {ip} is {kind}"
    return f"refused: {host} resolves to {ip}, {kind}"


def _tls_reason(exc: BaseException, url: str) -> str:
    """The ssl module's short reason ('certificate verify failed: self-signed certificate') from the
    chain of exceptions requests and urllib3 wrap it in."""
    seen, stack = set(), [exc]
    while stack:
        e = stack.pop()
        if not isinstance(e, BaseException) or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"certificate verify failed: {e.verify_message}"
        if isinstance(e, CertificateError):  # urllib3 matches the name itself: the address was pinned
            return f"certificate verify failed: it is not valid for {urlsplit(url).hostname}"
        if isinstance(e, ssl.SSLError) and e.reason:
            return e.reason.lower().replace("_", " ")
        stack.extend([e.__cause__, e.__context__, getattr(e, "reason", None), *e.args])
    return "the handshake failed"


def host_of(url: str) -> str:
    """host[:port] of a URL for a message: no credentials, no path or query (a redirect's may be signed)."""
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def _failure(exc: Exception, url: str, policy: FetchPolicy, *, mid_file: bool = False) -> FetchError:
    """One sentence for a request that failed after its address was accepted."""
    host = host_of(url)
    if isinstance(exc, requests.exceptions.SSLError):
        return FetchError(f"the TLS connection to {host} failed ({_tls_reason(exc, url)})")
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return FetchError(f"{host} did not accept a connection within {policy.connect_timeout:g} s")
    # requests reports a read that timed out as ReadTimeout before the answer, as ConnectionError within it
    timed_out = isinstance(exc, requests.exceptions.ReadTimeout) or "timed out" in str(exc)
    if mid_file:
        return FetchError(f"{host} stopped sending in the middle of the file" if timed_out
                          else f"the connection to {host} broke off in the middle of the file")
    if timed_out:
        return FetchError(f"{host} timed out without answering")
    if isinstance(exc, requests.exceptions.ConnectionError):
        return FetchError(f"{host} refused or dropped the connection")
    return FetchError(f"fetching from {host} failed ({type(exc).__name__})")


@contextlib.contextmanager
def open_url(url: str, policy: FetchPolicy | None = None) -> Iterator[tuple[Iterator[bytes], int | None]]:
    """(chunks, declared length or None) of an https URL, through the policy's checks; FetchError otherwise.
    The chunks stop with a FetchError once they pass policy.max_bytes or arrive slower than its rate."""
    policy = policy or FetchPolicy.from_environment()
    deadline = _Deadline()
    try:
        with requests.Session() as session:
            session.trust_env = False  # no proxy or .netrc from the environment: the pinned connection is the path
            session.mount("https://", _CheckedAdapter(policy, deadline))
            response, url = _response(session, url, policy, deadline)
            with response:
                declared = response.headers.get("Content-Length")
                total = int(declared) if declared and declared.isdigit() else None
                if total is not None and total > policy.max_bytes:
                    raise FetchError(f"the file is {total:,} bytes; the limit is {policy.max_bytes:,}")
                yield _chunks(response, url, policy, deadline), total
    finally:
        deadline.close()


def _response(session: requests.Session, url: str, policy: FetchPolicy,
              deadline: _Deadline) -> tuple[requests.Response, str]:
    """The first non-redirect answer and its URL, every hop through the same checks."""
    for _hop in range(policy.max_redirects + 1):
        refusal = url_refusal(url, policy)
        if refusal:
            raise FetchError(refusal if _hop == 0 else f"{refusal} (after a redirect to {host_of(url)})")
        # connect, handshake and the answer's headers together: each read's timeout alone does not bound
        # a server that sends its headers a byte at a time
        limit = policy.connect_timeout + policy.read_timeout
        deadline.set(limit, f"{host_of(url)} did not answer within {limit:g} s")
        try:
            response = session.get(url, stream=True, allow_redirects=False,
                                   timeout=(policy.connect_timeout, policy.read_timeout),
                                   headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
        except FetchError:
            raise
        except requests.RequestException as exc:
            raise FetchError(deadline.reason) if deadline.reason else _failure(exc, url, policy) from exc
        if not response.is_redirect:
            if response.status_code != 200:
                response.close()
                raise FetchError(f"{host_of(url)} answered {response.status_code} {response.reason}"
                                 f" for {urlsplit(url).path or '/'}")
            return response, url
        location = response.headers.get("Location", "")
        response.close()
        url = urljoin(url, location)
    raise FetchError(f"more than {policy.max_redirects} redirects, stopped at {host_of(url)}")


def _chunks(response: requests.Response, url: str, policy: FetchPolicy, deadline: _Deadline,
            size: int = 4 * 1024 * 1024):
    """The body as it arrives. read1 returns what one receive brought, so the rate is counted as bytes
    come in, not once per 4 MiB (a slow honest server would look stalled between two full blocks)."""
    rate, window = policy.min_bytes_per_second, policy.rate_window
    quota = rate * window
    slow = (f"{host_of(url)} sent the file too slowly (less than {_amount(rate)} a second over {window:g} s)")
    deadline.set(window if rate else math.inf, slow)
    done = in_window = 0
    try:
        while block := response.raw.read1(size, decode_content=True):
            done += len(block)
            if done > policy.max_bytes:
                raise FetchError(f"the file is larger than the limit of {policy.max_bytes:,} bytes")
            in_window += len(block)
            if rate and in_window >= quota:  # this window's share came: the next window starts now
                deadline.set(window, slow)
                in_window = 0
            yield block
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise FetchError(deadline.reason) if deadline.reason else _failure(exc, url, policy, mid_file=True) from exc
    if deadline.reason:  # the shutdown can end the body as a clean EOF
        raise FetchError(deadline.reason)


def _amount(n: float) -> str:
    for unit, size in (("MiB", 1024 ** 2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n:g} bytes"
