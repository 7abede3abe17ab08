"""Trust anchors for the compatible commands: the CA certificates an NSS database trusts, plus a file.

Dogtag's tools trust what the NSS database ``dbdir`` trusts (``certutil -A -t CT,C,C``), but only for
TLS; they never check a CMC response. Here the same anchors verify servers (HttpClient) and responses
(CMCResponse, CMCRequest's second trip). An optional PEM file (``cacert=`` in a config file,
``--ca-cert`` on a command line) adds anchors for users whose database does not hold the CA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from agent.compat.tool import CompatError

if TYPE_CHECKING:
    from asn1crypto import x509


@dataclass(frozen=True)
class TrustAnchors:
    certificates: tuple[x509.Certificate, ...]
    sources: tuple[str, ...]
    """Where they came from, for messages (``NSS database DIR (CA: CT,C,C)``, ``FILE``)."""
    origins: tuple[str, ...] = ()
    """Where each certificate came from, in the order of :attr:`certificates`."""

    def origin_of(self, certificate: x509.Certificate) -> str:
        """``'Test CA' (CT,C,C) in DIR`` or the file name, for a message naming one anchor."""
        for candidate, origin in zip(self.certificates, self.origins, strict=False):
            if candidate.dump() == certificate.dump():
                return origin
        return "; ".join(self.sources)

    def pem(self) -> str:
        from agent.cmc.pem import to_pem

        return "".join(to_pem(c.dump(), "CERTIFICATE") for c in self.certificates)


def certificates_from_file(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (or the one in a DER file)."""
    from asn1crypto import x509

    from agent.cmc.pem import all_pem_blocks

    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise CompatError(f"cannot read the CA certificate file {path}: {exc.strerror}") from None
    certificates = []
    try:
        for block in all_pem_blocks(data, "CERTIFICATE"):
            certificate = x509.Certificate.load(block, strict=True)
            certificate.native  # noqa: B018 - decode it all now
            certificates.append(certificate)
    except ValueError as exc:
        raise CompatError(f"{path} does not hold valid certificates: {exc}") from None
    if not certificates:
        raise CompatError(f"{path} holds no certificate")
    return certificates


def trust_anchors(
    dbdir: str | os.PathLike[str] | None, extra_file: str | os.PathLike[str] | None, *, for_tls: bool
) -> TrustAnchors:
    """The CA certificates ``dbdir`` trusts (``C``; in the SSL field for TLS), and those in ``extra_file``."""
    from agent.compat.dogtagdb import trusted_ca_certificates

    certificates: dict[bytes, tuple[x509.Certificate, str]] = {}
    sources: list[str] = []
    if dbdir is not None:
        for trusted in trusted_ca_certificates(dbdir, for_tls=for_tls):
            origin = f"{trusted.nickname!r} ({trusted.trust}) in {dbdir}"
            certificates.setdefault(trusted.certificate.dump(), (trusted.certificate, origin))
            sources.append(origin)
    if extra_file is not None:
        for certificate in certificates_from_file(extra_file):
            certificates.setdefault(certificate.dump(), (certificate, str(extra_file)))
        sources.append(str(extra_file))
    return TrustAnchors(
        tuple(c for c, _ in certificates.values()), tuple(sources), tuple(o for _, o in certificates.values())
    )
