"""PKCS#10 certification requests, signed through :class:`agent.keyops.Signer`.

Encoding follows Dogtag's PKCS10Client (``dogtag-cmc-client.md`` §5.2): subject from an RFC 4514
string with UTF8String values, ``attributes`` always present (``A0 00`` when empty), an optional
extensionRequest carrying a SubjectKeyIdentifier (``critical`` omitted, as DER requires), RSA
signatures with NULL parameters and ECDSA signatures without.

:func:`add_attribute_and_resign` is the popLinkWitnessV2 step of a shared-secret request: add an
attribute and sign the new CertificationRequestInfo with the request's key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from asn1crypto import core, csr, x509

from agent.cmc import algorithms, der, names
from agent.cmc.asn1.pkcs10 import CertificationRequest
from agent.cmc.errors import (
    CMCError,
    InvalidCertificationRequest,
    InvalidRequestInput,
    KeyMismatch,
)
from agent.cmc.keyid import same_public_key, subject_key_identifier
from agent.cmc.pem import to_der
from agent.cmc.verify import verify_signature
from agent.keyops import HashName, Signer


def build_csr(
    signer: Signer,
    subject: str | x509.Name,
    *,
    ski: bool = False,
    san: Sequence[str] = (),
    hash_name: HashName = "sha256",
    string_policy: names.StringPolicy = "utf8",
) -> csr.CertificationRequest:
    """Build and sign a PKCS#10 request for ``signer``'s key.

    ``subject`` is an RFC 4514 string (``"CN=alice,UID=alice"``) or a ready ``x509.Name``. ``ski`` adds
    a SubjectKeyIdentifier extension request (needed for shared-secret CMC). ``san`` entries are
    ``dns:NAME``, ``email:ADDR``, ``ip:ADDR``, ``uri:URI``, or a bare DNS name or IP address.
    """
    name = subject if isinstance(subject, x509.Name) else names.parse_dn(subject, string_policy)
    public_key_info = signer.public_key_info
    extensions: list[x509.Extension] = []
    if ski:
        extensions.append(subject_key_identifier_extension(public_key_info))
    if san:
        extensions.append(
            x509.Extension({"extn_id": "subject_alt_name", "extn_value": parse_general_names(san)})
        )
    attributes: list[csr.CRIAttribute] = []
    if extensions:
        attributes.append(
            csr.CRIAttribute(
                {"type": "extension_request", "values": csr.SetOfExtensions([x509.Extensions(extensions)])}
            )
        )
    info = csr.CertificationRequestInfo(
        {"version": "v1", "subject": name, "subject_pk_info": public_key_info, "attributes": attributes}
    )
    return sign_request_info(info, signer, hash_name)


def sign_request_info(
    info: csr.CertificationRequestInfo, signer: Signer, hash_name: HashName = "sha256"
) -> csr.CertificationRequest:
    """Sign a CertificationRequestInfo with ``signer`` (which must hold the key it names)."""
    if not same_public_key(info["subject_pk_info"], signer.public_key_info):
        raise KeyMismatch("the signing key is not the key in the certification request")
    signature_algorithm = algorithms.signature_algorithm(
        signer.key_algorithm, hash_name, ecdsa_null_params=False
    )
    signature = signer.sign(info.dump(), hash_name)
    request = csr.CertificationRequest(
        {
            "certification_request_info": info,
            "signature_algorithm": signature_algorithm,
            "signature": signature,
        }
    )
    # Hand back a decoded copy: asn1crypto re-walks a built tree on every encoding (about a
    # millisecond for a CSR), a decoded one encodes from its bytes.
    return CertificationRequest.load(request.dump())


def add_attribute_and_resign(
    request: csr.CertificationRequest,
    attribute: csr.CRIAttribute,
    signer: Signer,
    hash_name: HashName = "sha256",
) -> csr.CertificationRequest:
    """Return a copy of ``request`` with ``attribute`` added, re-signed with ``signer``.

    Used to embed popLinkWitnessV2 (``dogtag-cmc-client.md`` §1.6.4): version, subject and key are
    kept; the signature algorithm follows the key type, whatever the original used.
    """
    original = request["certification_request_info"]
    attributes = [csr.CRIAttribute.load(a.dump()) for a in _attributes(request)]
    attributes.append(attribute)
    info = csr.CertificationRequestInfo(
        {
            "version": original["version"].native,
            "subject": x509.Name.load(original["subject"].dump()),
            "subject_pk_info": original["subject_pk_info"].copy(),
            "attributes": attributes,
        }
    )
    return sign_request_info(info, signer, hash_name)


def load_csr(data: bytes, *, check_signature: bool = True) -> csr.CertificationRequest:
    """Read a CSR from DER or PEM; refuse non-canonical DER and (by default) a bad signature.

    The Dogtag CA re-encodes a CSR and verifies its signature over the re-encoding, so a CSR that is
    not DER would fail there; better to say so here.
    """
    try:
        request = der.load_der(CertificationRequest, to_der(data, "CSR"), "CSR")
    except CMCError as exc:
        raise InvalidCertificationRequest(f"cannot use the CSR: {exc}") from None
    if check_signature:
        verify_csr(request)
    return request


def verify_csr(request: csr.CertificationRequest) -> None:
    try:
        info = request["certification_request_info"]
        verify_signature(
            info["subject_pk_info"],
            request["signature_algorithm"],
            request["signature"].native,
            info.dump(),
            what="CSR signature",
        )
    except CMCError as exc:
        raise InvalidCertificationRequest(str(exc)) from None


def requested_extensions(request: csr.CertificationRequest) -> list[x509.Extension]:
    """All extensions in the request's extensionRequest attributes."""
    found: list[x509.Extension] = []
    for attribute in _attributes(request):
        if attribute["type"].native == "extension_request":
            for extensions in attribute["values"]:
                found.extend(extensions)
    return found


def _attributes(request: csr.CertificationRequest) -> list[csr.CRIAttribute]:
    """The CSR's attributes; empty also when the (non-conforming) CSR omits the field entirely."""
    attributes = request["certification_request_info"]["attributes"]
    return [] if isinstance(attributes, core.Void) else list(attributes)


def requested_ski(request: csr.CertificationRequest) -> bytes | None:
    """The key identifier of the request's SubjectKeyIdentifier extension request, if any."""
    for extension in requested_extensions(request):
        if extension["extn_id"].native == "key_identifier":
            value: bytes = extension["extn_value"].parsed.native
            return value
    return None


def subject_key_identifier_extension(public_key_info: x509.PublicKeyInfo) -> x509.Extension:
    return x509.Extension(
        {"extn_id": "key_identifier", "extn_value": x509.OctetString(subject_key_identifier(public_key_info))}
    )


def parse_general_names(entries: Sequence[str]) -> x509.GeneralNames:
    """``dns:``, ``email:``, ``ip:``, ``uri:`` prefixed names; a bare entry is an IP address or DNS name."""
    names_list: list[x509.GeneralName] = []
    for entry in entries:
        kind, sep, value = entry.partition(":")
        kind = kind.lower() if sep else ""
        if kind not in ("dns", "email", "ip", "uri"):
            kind, value = "", entry
        if not value:
            raise InvalidRequestInput(f"empty subject alternative name {entry!r}")
        if kind == "":
            try:
                ipaddress.ip_address(value)
                kind = "ip"
            except ValueError:
                kind = "dns"
        if kind == "dns":
            names_list.append(x509.GeneralName(name="dns_name", value=value))
        elif kind == "email":
            names_list.append(x509.GeneralName(name="rfc822_name", value=value))
        elif kind == "uri":
            names_list.append(x509.GeneralName(name="uniform_resource_identifier", value=value))
        else:
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                raise InvalidRequestInput(f"{value!r} is not an IP address") from None
            names_list.append(x509.GeneralName(name="ip_address", value=str(address)))
    return x509.GeneralNames(names_list)
