"""Posting CMC requests to a Dogtag CA over HTTPS.

What Dogtag's ``HttpClient`` does, done as HTTP should be: raw DER body with
``Content-Type: application/pkcs7-mime`` (never form-encoded: Tomcat would swallow the body), the answer
read by ``Content-Length`` rather than by counting header lines, keep-alive between requests, the server
always verified against the given CA file, and the TLS client key on a device when the profile's
authenticator wants one (CMCAuth, CMCUserSignedAuth). Dogtag answers HTTP 200 for every CMC outcome, so
this layer only says whether a CMC response came back; what it says is the reader's job.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from agent.cmc.errors import CMCError

if TYPE_CHECKING:
    import requests

    from tokens.tls import DeviceTlsKey

CMC_CONTENT_TYPE = "application/pkcs7-mime"
MAX_RESPONSE_BYTES = 16 * 1024 * 1024
DEFAULT_TIMEOUT = 60.0


class TransportError(CMCError):
    """The request did not reach the CA, or what came back is not a CMC response."""


class CAUnreachable(TransportError):
    """No connection to the CA (refused, timed out, or TLS failed). Check the URL, the port and --ca-cert."""


class NotACmcResponse(TransportError):
    """The CA answered, but not with a CMC response (an HTML error page, another HTTP status, no body).

    Dogtag answers an error page when the request never reached its CMC code, for example a wrong path
    or a profile that does not accept CMC.
    """


@dataclass(frozen=True)
class CmcResponseBytes:
    body: bytes
    status: int
    content_type: str
    url: str
    status_line: str = ""
    """``HTTP/1.1 200 OK`` as received."""
    headers: tuple[tuple[str, str], ...] = ()
    """The response headers as received, in order (what HttpClient prints)."""


def _https_only(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise TransportError(
            f"{url!r} is not an https:// URL; CMC requests can carry secrets and the CA must be verified"
        )


class CmcClient:
    """A keep-alive HTTPS session to one CA, with or without a device key for TLS client authentication."""

    def __init__(self, session: requests.Session, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._session = session
        self._timeout = timeout

    @classmethod
    def open(
        cls,
        ca_file: str,
        *,
        client_key: DeviceTlsKey | None = None,
        client_cert: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> CmcClient:
        """Trust only ``ca_file``; authenticate with ``client_key`` + ``client_cert`` when given."""
        from tokens.tls import client_ssl_context, session_for_context

        if client_key is not None:
            if client_cert is None:
                raise TransportError("a TLS client key needs its certificate (--cert FILE)")
            context = client_ssl_context(client_key, client_cert, ca_file)
        else:
            try:
                context = ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise TransportError(f"cannot use {ca_file} as the CA certificate: {exc}") from None
            context.minimum_version = ssl.TLSVersion.TLSv1_2
        return cls(session_for_context(context), timeout)

    @property
    def session(self) -> requests.Session:
        """The verified HTTPS session, for other calls to the same CA (Dogtag's REST resources)."""
        return self._session

    @property
    def timeout(self) -> float:
        return self._timeout

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> CmcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def post(self, url: str, request_der: bytes) -> CmcResponseBytes:
        """POST one CMC request; return the response bytes, untrusted until the reader has checked them."""
        import requests

        _https_only(url)
        try:
            response = self._session.post(
                url,
                data=request_der,
                headers={"Content-Type": CMC_CONTENT_TYPE, "Accept": CMC_CONTENT_TYPE},
                timeout=self._timeout,
                stream=True,
                allow_redirects=False,
            )
        except requests.exceptions.SSLError as exc:
            raise CAUnreachable(f"TLS with {url} failed: {reason(exc)}") from None
        except requests.exceptions.RequestException as exc:
            raise CAUnreachable(f"cannot reach {url}: {reason(exc)}") from None
        with response:
            body = _read_limited(response)
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if response.status_code != 200:
                raise NotACmcResponse(f"{url} answered HTTP {response.status_code} {response.reason}")
            if content_type != CMC_CONTENT_TYPE or not body:
                hint = " (an error page: is the path a CMC servlet and the profile enabled?)"
                raise NotACmcResponse(
                    f"{url} answered {content_type or 'no content type'} with {len(body)} bytes, "
                    f"not a CMC response{hint if 'html' in content_type else ''}"
                )
            version = {10: "HTTP/1.0", 11: "HTTP/1.1"}.get(getattr(response.raw, "version", 11), "HTTP/1.1")
            return CmcResponseBytes(
                body,
                response.status_code,
                content_type,
                url,
                status_line=f"{version} {response.status_code} {response.reason or ''}".rstrip(),
                headers=tuple(response.headers.items()),
            )


def _read_limited(response: requests.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise NotACmcResponse(f"the response is larger than {MAX_RESPONSE_BYTES} bytes; refusing it")
        chunks.append(chunk)
    return b"".join(chunks)


def reason(exc: Exception) -> str:
    """The useful part of a requests/urllib3 error chain, with a hint for the usual causes."""
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return "the server certificate did not verify (is --ca-cert the CA that issued it?)"
    if "Connection refused" in text:
        return "connection refused (is the CA running on that port?)"
    if "timed out" in text.lower():
        return "timed out"
    return text.splitlines()[0][:300] if text else type(exc).__name__
