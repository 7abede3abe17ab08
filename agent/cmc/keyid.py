"""Key identifiers: how Dogtag (and RFC 5280 method 1) name a public key."""

from __future__ import annotations

import hashlib

from asn1crypto import keys


def subject_public_key_bits(public_key_info: keys.PublicKeyInfo) -> bytes:
    """The contents of the subjectPublicKey BIT STRING, without its unused-bits byte."""
    contents: bytes = public_key_info["public_key"].contents
    return contents[1:]


def subject_key_identifier(public_key_info: keys.PublicKeyInfo) -> bytes:
    """RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (20 bytes), as Dogtag computes."""
    return hashlib.sha1(subject_public_key_bits(public_key_info), usedforsecurity=False).digest()


def same_public_key(a: keys.PublicKeyInfo, b: keys.PublicKeyInfo) -> bool:
    """Compare two SubjectPublicKeyInfos by encoding (algorithm parameters included), ignoring any
    implicit tag (a CRMF template holds the key as ``[6] IMPLICIT``)."""
    a.dump()
    b.dump()  # contents of freshly built values are computed on first encoding
    return bool(a.contents == b.contents and a.contents is not None)
