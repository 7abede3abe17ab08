"""PKCS#10 (RFC 2986) certification requests that carry attributes we do not interpret.

asn1crypto's :class:`~asn1crypto.csr.CertificationRequest` decodes the attributes it knows
(``extensionRequest``, ``challengePassword``, a few Microsoft ones) and leaves any other attribute's
values as an untyped ``Any``; walking such a value (``.native``, or the re-encoding our strict DER reader
does) then fails on its SET. Real CSRs carry such attributes: certmonger writes ``friendlyName``
(PKCS#9, a BMPString) in every request it makes. An attribute is ``SEQUENCE { type, SET OF ANY }``, so
here the values of an attribute we do not know are a SET whose members stay opaque: decoded as far as
their tag and length, never interpreted, re-encoded byte for byte.

These classes are subclasses of asn1crypto's, so every ``isinstance(x, csr.CertificationRequest)`` and
every field name keeps working; only the attribute values' default spec changes.
"""

from __future__ import annotations

from asn1crypto import csr
from asn1crypto.core import Any, Asn1Value, SetOf
from asn1crypto.keys import PublicKeyInfo
from asn1crypto.x509 import Name


class OpaqueAttributeValues(SetOf):
    """``SET OF ANY``: the values of an attribute whose type we do not interpret."""

    _child_spec = Any


class CRIAttribute(csr.CRIAttribute):
    """An attribute: the known types decoded as asn1crypto does, any other type kept opaque."""

    _fields = [
        ("type", csr.CSRAttributeType),
        ("values", Any),
    ]
    _oid_pair = None

    def _values_spec(self) -> type[Asn1Value]:
        spec: type[Asn1Value] = csr.CRIAttribute._oid_specs.get(self["type"].native, OpaqueAttributeValues)
        return spec

    _spec_callbacks = {"values": _values_spec}


class CRIAttributes(SetOf):
    _child_spec = CRIAttribute


class CertificationRequestInfo(csr.CertificationRequestInfo):
    _fields = [
        ("version", csr.Version),
        ("subject", Name),
        ("subject_pk_info", PublicKeyInfo),
        ("attributes", CRIAttributes, {"implicit": 0, "optional": True}),
    ]


class CertificationRequest(csr.CertificationRequest):
    """A PKCS#10 request whose unknown attributes are opaque (see the module docstring)."""

    _fields = [
        ("certification_request_info", CertificationRequestInfo),
        ("signature_algorithm", csr.SignedDigestAlgorithm),
        ("signature", csr.OctetBitString),
    ]
