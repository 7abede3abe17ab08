"""``cmc-agent tls-check``: does my device key authenticate to this server?

The user's first diagnostic before any enrollment: connect to an https:// URL with the key on the device
as the TLS client key, verify the server against the given CA file, send one GET, and report protocol,
cipher, server subject, whether the server actually asked for and got the client certificate, and the
HTTP status. Exit 0 only when client authentication happened and the request succeeded.

The key is named and unlocked as for every other command (:func:`agent.cli.common.open_tls_key`).
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from agent.cli.common import add_pin_options, open_tls_key
from agent.cli.main import UserFacingError

if TYPE_CHECKING:
    import ssl

    from tokens.tls import DeviceTlsKey

log = logging.getLogger(__name__)

_TLS_VERSIONS = {"1.2": "TLSv1_2", "1.3": "TLSv1_3"}  # ssl.TLSVersion names; ssl is imported late
_HANDSHAKE = 22  # TLS content type
_CERTIFICATE_REQUEST = 13  # TLS handshake message types
_CERTIFICATE_VERIFY = 15
_SHORT_NAMES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "domainComponent": "DC",
    "emailAddress": "E",
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "tls-check",
        help="check that a device key authenticates to an https:// server",
        description=(
            "Connect to URL with the private key on a PKCS#11 device as TLS client key, verify the server "
            "against --ca-cert, send one GET and report protocol, cipher, server subject and HTTP status. "
            "Exit status 0 only when the server asked for and accepted the client certificate and the "
            "request succeeded."
        ),
    )
    parser.add_argument("url", metavar="URL", help="https://HOST:PORT/PATH")
    parser.add_argument(
        "--key",
        required=True,
        metavar="URI",
        help="pkcs11: URI of the private key; module-path=... in its query names the PKCS#11 module",
    )
    parser.add_argument(
        "--cert", required=True, metavar="FILE", help="client certificate (PEM), chain may follow"
    )
    parser.add_argument(
        "--ca-cert", required=True, metavar="FILE", help="CA certificate(s) that the server must chain to"
    )
    add_pin_options(parser)
    parser.add_argument("--tls-version", choices=sorted(_TLS_VERSIONS), help="use only this TLS version")
    parser.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS", help="network timeout")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.set_defaults(handler=run)


# --- resolving the key ---------------------------------------------------------------------------------


def resolve_device_key(args: argparse.Namespace) -> DeviceTlsKey:
    """Module, init arguments and PIN for ``--key``, resolved as every command resolves keys."""
    return open_tls_key(args, args.key)[1]


# --- the check ----------------------------------------------------------------------------------------------


@dataclass
class _HandshakeWatch:
    """What the handshake showed: filled in by the socket class and the TLS message callback."""

    protocol: str | None = None
    cipher: str | None = None
    server_subject: str | None = None
    server_issuer: str | None = None
    certificate_requested: bool = False
    client_authenticated: bool = False
    messages_seen: bool = False

    def attach(self, context: ssl.SSLContext) -> None:
        import ssl

        watch = self

        class WatchedSocket(ssl.SSLSocket):
            def do_handshake(self, block: bool = False) -> None:
                super().do_handshake(block)
                watch._record(self)

        context.sslsocket_class = WatchedSocket
        # The only way Python lets a client see which handshake messages it sent (private since 3.8);
        # without it, whether the server asked for the certificate is reported as unknown.
        if hasattr(context, "_msg_callback"):
            context._msg_callback = self._on_message

    def _record(self, sock: ssl.SSLSocket) -> None:
        self.protocol = sock.version()
        cipher = sock.cipher()
        self.cipher = cipher[0] if cipher else None
        peer = sock.getpeercert() or {}
        self.server_subject = _dn(peer.get("subject", ()))
        self.server_issuer = _dn(peer.get("issuer", ()))

    def _on_message(
        self, conn: Any, direction: str, version: Any, content_type: Any, msg_type: Any, data: Any
    ) -> None:
        self.messages_seen = True
        if content_type != _HANDSHAKE:
            return
        if direction == "read" and msg_type == _CERTIFICATE_REQUEST:
            self.certificate_requested = True
        if direction == "write" and msg_type == _CERTIFICATE_VERIFY:
            self.client_authenticated = True


def _dn(rdns: Any) -> str:
    parts = []
    for rdn in rdns:
        for name, value in rdn:
            parts.append(f"{_SHORT_NAMES.get(name, name)}={value}")
    return ", ".join(reversed(parts))


@dataclass
class TlsCheckReport:
    url: str
    key: str
    client_certificate: str
    protocol: str | None = None
    cipher: str | None = None
    server_subject: str | None = None
    server_issuer: str | None = None
    client_authentication: str = "unknown"
    http_status: int | None = None
    ok: bool = False
    problems: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        rows = [
            ("url", self.url),
            ("key", self.key),
            ("client certificate", self.client_certificate),
            ("protocol", self.protocol),
            ("cipher", self.cipher),
            ("server subject", self.server_subject),
            ("server issuer", self.server_issuer),
            ("client authentication", self.client_authentication),
            ("HTTP status", self.http_status),
            ("result", "OK" if self.ok else "FAILED"),
        ]
        out = [f"{name + ':':<23}{'-' if value is None else value}" for name, value in rows]
        out += [f"{'problem:':<23}{problem}" for problem in self.problems]
        return out


def run(args: argparse.Namespace) -> int:
    import ssl

    import requests

    from tokens.tls import TlsError, client_ssl_context, session_for_context

    url = urlsplit(args.url)
    if url.scheme != "https" or not url.hostname:
        raise UserFacingError(f"{args.url} is not an https://HOST[:PORT]/PATH URL")
    key = resolve_device_key(args)
    version = ssl.TLSVersion[_TLS_VERSIONS[args.tls_version]] if args.tls_version else None
    context = client_ssl_context(
        key, args.cert, args.ca_cert, minimum_version=version, maximum_version=version
    )
    watch = _HandshakeWatch()
    watch.attach(context)
    report = TlsCheckReport(url=args.url, key=key.key_uri, client_certificate=_certificate_subject(args.cert))
    log.debug("tls-check %s with key %s (module %s)", args.url, key.key_uri, key.module_path)

    try:
        with session_for_context(context) as session:
            response = session.get(args.url, timeout=args.timeout, allow_redirects=False)
            report.http_status = response.status_code
    except TlsError:
        raise
    except requests.exceptions.RequestException as exc:
        report.problems.append(_explain_failure(exc, args.ca_cert))

    for name in ("protocol", "cipher", "server_subject", "server_issuer"):
        setattr(report, name, getattr(watch, name))
    if watch.client_authenticated:
        report.client_authentication = "certificate sent, handshake signed with the device key"
    elif watch.certificate_requested:
        report.client_authentication = "requested by the server, but no certificate was sent"
    elif watch.messages_seen and watch.protocol:
        report.client_authentication = "not requested by the server"
        report.problems.append(
            "the server did not ask for a client certificate, so the device key was not used"
        )
    elif watch.messages_seen:
        report.client_authentication = "not reached"
    if report.http_status is not None and report.http_status >= 400:
        report.problems.append(f"the server answered HTTP {report.http_status}")
    report.ok = (
        not report.problems
        and report.http_status is not None
        and (watch.client_authenticated or not watch.messages_seen)
    )
    if args.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0 if report.ok else 1


def _certificate_subject(path: str) -> str:
    from cryptography import x509

    try:
        with open(path, "rb") as handle:
            return x509.load_pem_x509_certificate(handle.read()).subject.rfc4514_string()
    except (OSError, ValueError) as exc:
        raise UserFacingError(f"cannot read the client certificate {path}: {exc}") from exc


def _explain_failure(exc: BaseException, ca_file: str) -> str:
    """One line for a failed connection, naming the likely cause and what to check."""
    import ssl

    tls_error = _innermost_ssl_error(exc)
    if isinstance(tls_error, ssl.SSLCertVerificationError):
        return f"the server's certificate did not verify against {ca_file}: {tls_error.verify_message}"
    if tls_error is not None:
        reason = (tls_error.reason or str(tls_error)).lower()
        if "alert" in reason and any(
            word in reason for word in ("certificate", "unknown_ca", "access_denied")
        ):
            return (
                f"the server rejected the client certificate ({reason}): is it issued by a CA the server "
                "trusts for client authentication, and still valid?"
            )
        return f"TLS failed: {tls_error}"
    return f"connection failed: {exc}"


def _innermost_ssl_error(exc: BaseException) -> ssl.SSLError | None:
    """requests wraps urllib3 wraps ssl: walk causes and arguments down to the ssl module's error."""
    import ssl

    seen: set[int] = set()
    pending: list[Any] = [exc]
    while pending:
        current = pending.pop()
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        pending.extend(
            [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        )
    return None
