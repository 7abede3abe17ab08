"""HTTP(S) front end: Dogtag's EE paths over TLS with optional client certificates, and plain HTTP if asked.

Transport facts reproduced (dogtag-cmc-server.md §1.1):

* TLS client certificates are requested but optional (``CERT_OPTIONAL``): the authenticator decides.
* Every CMC outcome is HTTP 200 with ``application/pkcs7-mime``; an error outside the CMC code path is
  an HTML page, also 200. A POST without Content-Length gets that HTML page.
* The request Content-Type is never looked at; Dogtag HttpClient's bare ``POST path HTTP/1.0`` with only
  ``Content-length:`` and bare LF line ends is accepted.
* An HTTP/1.0 client gets exactly four header lines (Content-Type, Content-Length, Date, Connection), as
  Tomcat sends them: HttpClient keeps everything after the 6th LF as the body.
* HTTP/1.1 clients get keep-alive.

Each TLS handshake runs in the connection's own thread, so a slow or hostile client cannot stall accept().
Nothing a client sends can make a traceback reach it.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from asn1crypto import x509 as asn1_x509

from localca import rest
from localca.authority import CertificateAuthority
from localca.pipeline import ENDPOINTS, Answer, CMCService

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
SOCKET_TIMEOUT_SECONDS = 60.0

ERROR_PAGE = (
    "<HTML>\n<BODY BGCOLOR=white>\n<P>\n"
    "The Certificate System has encountered an unrecoverable error.\n"
    "<P>\nError Message:<BR>\n<I>{message}</I>\n<P>\n"
    "Please contact your local administrator for assistance.\n</BODY>\n</HTML>\n"
)


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


class CARequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CAHTTPServer

    # -- plumbing ----------------------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            log.info("%s %s", self.address_string(), format % args)

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(SOCKET_TIMEOUT_SECONDS)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.ca.store.release_thread_connection()

    def _client_certificate(self) -> asn1_x509.Certificate | None:
        if not isinstance(self.connection, ssl.SSLSocket):
            return None
        der = self.connection.getpeercert(binary_form=True)
        return asn1_x509.Certificate.load(der) if der else None

    def _send(self, body: bytes, content_type: str | None, extra: dict[str, str] | None = None) -> None:
        """Status 200 and exactly the headers Tomcat sends (plus EST's header when asked)."""
        self.send_response_only(200)
        self.send_header("Content-Type", content_type or "application/pkcs7-mime")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Date", formatdate(usegmt=True))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.wfile.flush()

    def _send_error_page(self, message: str) -> None:
        self.close_connection = True
        body = ERROR_PAGE.format(message=_html_escape(message)).encode("utf-8")
        self._send(body, "text/html")

    def _send_status(self, code: int, text: str) -> None:
        body = text.encode("utf-8")
        self.send_response_only(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Date", formatdate(usegmt=True))
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self) -> bytes | None:
        """Exactly Content-Length bytes, or None when the length is missing, absurd or not delivered."""
        length_text = self.headers.get("Content-Length")
        if length_text is None or self.headers.get("Transfer-Encoding"):
            return None
        try:
            length = int(length_text.strip())
        except ValueError:
            return None
        if length < 0 or length > MAX_BODY_BYTES:
            return None
        body = self.rfile.read(length) if length else b""
        return body if len(body) == length else None

    # -- methods -----------------------------------------------------------------------------------

    def do_POST(self) -> None:
        self._dispatch()

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            self._route()
        except (ConnectionError, TimeoutError, ssl.SSLError):
            self.close_connection = True
        except Exception:  # never a traceback to the client: Dogtag's HTML error page instead
            log.exception("unexpected error while serving %s", self.path)
            try:
                self._send_error_page("Server Internal Error")
            except OSError:
                self.close_connection = True

    def _route(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query, keep_blank_values=True)
        endpoint = ENDPOINTS.get(parts.path)
        if endpoint is not None:
            body = self._read_body()
            if body is None:
                self._send_error_page("java.lang.NegativeArraySizeException")
                return
            profile_ids = query.get("profileId") or []
            profile_id = profile_ids[0] if profile_ids else None
            answer = self.server.service.submit(endpoint, profile_id, body, self._client_certificate())
            self._send_answer(answer)
            return
        if parts.path.startswith(rest.REST_PREFIX):
            self._serve_rest(parts.path, query)
            return
        # Anything else: drain a body the client may have sent, then answer the extra endpoints. A body
        # that cannot be drained (chunked, or too long) would be read as the next request: close instead.
        if self.headers.get("Content-Length") is not None or self.headers.get("Transfer-Encoding"):
            if self._read_body() is None:
                self.close_connection = True
        if parts.path == "/ca/ee/ca/getCRL":
            self._send(self.server.ca.crl().dump(), "application/pkix-crl")
        elif parts.path == "/ca/ee/ca/getCACert":
            self._send(self.server.ca.certificate.dump(), "application/pkix-cert")
        elif parts.path == "/localca/status":
            self._send_certificate_status(query)
        else:
            self._send_status(404, "not found\n")

    def _serve_rest(self, path: str, query: dict[str, list[str]]) -> None:
        """Dogtag's end-entity REST resources (:mod:`localca.rest`), JSON with Dogtag's HTTP statuses."""
        body = b""
        if self.headers.get("Content-Length") is not None or self.headers.get("Transfer-Encoding"):
            read = self._read_body()
            if read is None:
                self.close_connection = True
                self._send_status(400, "a body needs a valid Content-Length\n")
                return
            body = read
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        host = self.headers.get("Host") or "localhost"
        call = rest.RestCall(
            self.command, path, query, body, self._client_certificate(), f"{scheme}://{host}"
        )
        answer = rest.handle(self.server.ca, call)
        self.send_response_only(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.send_header("Date", formatdate(usegmt=True))
        self.send_header("Connection", "close" if self.close_connection else "keep-alive")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    def _send_answer(self, answer: Answer) -> None:
        extra = {}
        if (self.headers.get("pki-est-request") or "").strip().lower() == "true":
            extra["pki-cmc-status"] = str(answer.cmc_status)
        self._send(answer.body, answer.content_type, extra)

    def _send_certificate_status(self, query: dict[str, list[str]]) -> None:
        """A small JSON view of a certificate record, so tests can see revocations without a CRL parser."""
        try:
            text = (query.get("serial") or [""])[0]
            serial = int(text, 16) if text.lower().startswith("0x") else int(text)
        except ValueError:
            self._send_status(400, "serial must be a decimal or 0x-hex number\n")
            return
        record = self.server.ca.store.get_certificate(serial)
        if record is None:
            self._send_status(404, "no such certificate\n")
            return
        document = {
            "serial": record.serial,
            "subject": record.subject,
            "status": record.status,
            "revocation_reason": record.revocation_reason,
            "revoked_at": record.revoked_at,
            "not_after": record.not_after,
        }
        self._send(json.dumps(document).encode("utf-8"), "application/json")


class CAHTTPServer(ThreadingHTTPServer):
    """A threading server whose TLS handshakes happen in the worker threads."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        ca: CertificateAuthority,
        service: CMCService,
        ssl_context: ssl.SSLContext | None,
        *,
        verbose: bool = False,
    ) -> None:
        self.ca = ca
        self.service = service
        self.ssl_context = ssl_context
        self.verbose = verbose
        super().__init__(address, CARequestHandler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        # Headers and body leave in separate writes: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every answer on a kept-alive connection.
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self.ssl_context is not None:
            try:
                request.settimeout(SOCKET_TIMEOUT_SECONDS)
                request = self.ssl_context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError) as exc:
                log.debug("TLS handshake with %s failed: %s", client_address, exc)
                try:
                    request.close()
                except OSError:
                    pass
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


def tls_context(ca: CertificateAuthority) -> ssl.SSLContext:
    """Server TLS: DIR/tls.pem (issued by ca.pem); client certificates optional, verified against ca.pem."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(ca.directory.tls_cert), str(ca.directory.tls_key))
    context.load_verify_locations(cafile=str(ca.directory.ca_cert))
    context.verify_mode = ssl.CERT_OPTIONAL
    # Dogtag's clients ask for post-handshake authentication under TLS 1.3; a server that wants the
    # certificate at the handshake is the simpler, equally valid choice here.
    return context


class RunningServer:
    """One or two listeners (HTTPS, and plain HTTP if asked) serving one CA, each in its own thread."""

    def __init__(
        self,
        ca: CertificateAuthority,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        http_port: int | None = None,
        verbose: bool = False,
    ) -> None:
        self.ca = ca
        self.service = CMCService(ca)
        self.https = CAHTTPServer((host, port), ca, self.service, tls_context(ca), verbose=verbose)
        self.http = (
            CAHTTPServer((host, http_port), ca, self.service, None, verbose=verbose)
            if http_port is not None
            else None
        )
        self.host = host
        ca.public_http_port = self.http.server_address[1] if self.http is not None else self.port
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self.https.server_address[1])

    @property
    def http_port(self) -> int | None:
        return int(self.http.server_address[1]) if self.http is not None else None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> None:
        for server in (self.https, self.http):
            if server is None:
                continue
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server in (self.https, self.http):
            if server is not None:
                server.shutdown()
                server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> RunningServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
