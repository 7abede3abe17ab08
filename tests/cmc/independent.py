"""Independent checks: decode with pyasn1-modules and verify with openssl, tools we did not write."""

from __future__ import annotations

import subprocess
from pathlib import Path

from pyasn1.codec.der import decoder, encoder
from pyasn1.type import univ
from pyasn1_modules import rfc2986, rfc4211, rfc5652, rfc6402


def decode_exact(
    data: bytes, spec: univ.Asn1Item, *, open_types: bool = True, reencode: bool = True
) -> univ.Asn1Item:
    """Decode with pyasn1, insisting on no trailing data and (by default) a byte-identical re-encoding.

    ``reencode=False`` for a SignedData with an empty ``certificates [0]`` (``A0 00``, as Dogtag
    sends): pyasn1 drops an empty optional SET when it re-encodes.
    """
    value, rest = decoder.decode(data, asn1Spec=spec, decodeOpenTypes=open_types)
    assert rest == b"", "pyasn1 found trailing bytes"
    if reencode:
        assert encoder.encode(value) == data, "pyasn1's DER re-encoding differs from our bytes"
    return value


def signed_pki_data(
    content_info_der: bytes, *, open_types: bool = True
) -> tuple[rfc5652.SignedData, rfc6402.PKIData, bytes]:
    """The SignedData, the PKIData and the raw eContent octets of a signed CMC request."""
    content_info = decode_exact(content_info_der, rfc5652.ContentInfo(), reencode=False)
    assert content_info["contentType"] == rfc5652.id_signedData
    signed = content_info["content"]
    assert signed["encapContentInfo"]["eContentType"] == rfc6402.id_cct_PKIData
    econtent = bytes(signed["encapContentInfo"]["eContent"])
    return signed, decode_exact(econtent, rfc6402.PKIData(), open_types=open_types), econtent


def controls_by_type(pki_data: rfc6402.PKIData) -> dict[str, list[object]]:
    found: dict[str, list[object]] = {}
    for control in pki_data["controlSequence"]:
        found.setdefault(str(control["attrType"]), []).append(control)
    return found


def req_sequence_der(pki_data_der: bytes) -> bytes:
    """The raw bytes of PKIData.reqSequence, cut out of the PKIData encoding with pyasn1 offsets."""
    pki_data = decode_exact(pki_data_der, rfc6402.PKIData(), open_types=False)
    return encoder.encode(pki_data["reqSequence"])


def openssl(*args: str, input_bytes: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *args], input=input_bytes, capture_output=True, check=False)


def openssl_cms_verify(
    message: bytes, tmp_path: Path, *, ca_pem: bytes | None = None, signer_pem: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``openssl cms -verify`` on a DER ContentInfo; with ``signer_pem`` only the signature is checked."""
    message_file = tmp_path / "message.der"
    message_file.write_bytes(message)
    args = [
        "cms",
        "-verify",
        "-inform",
        "DER",
        "-in",
        str(message_file),
        "-binary",
        "-out",
        str(tmp_path / "content"),
    ]
    if ca_pem is not None:
        (tmp_path / "ca.pem").write_bytes(ca_pem)
        args += ["-CAfile", str(tmp_path / "ca.pem")]
    if signer_pem is not None:
        (tmp_path / "signer.pem").write_bytes(signer_pem)
        args += ["-certfile", str(tmp_path / "signer.pem"), "-noverify"]
    return openssl(*args)


__all__ = ["rfc2986", "rfc4211", "rfc5652", "rfc6402"]
