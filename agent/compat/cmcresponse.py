"""``CMCResponse [-d DIR] -i FILE [-o FILE] [-v] [--ca-cert FILE]``: show a CMC response as Dogtag does,
and verify it.

The listing follows Dogtag's CMCResponse line for line (``dogtag-cmc-client.md`` §3.2, §12): the
certificates (``-v``: each one's base-64 first), ``Number of controls is N``, one block per control with
the OID in JSS's brace form (``{1 3 6 1 5 5 7 7 25}``), ``CMC Full Response.``; the first body part
that did not succeed is reported on stderr as ``ERROR: CMC status for [1]: pop required`` with exit
status 1; on success ``-o`` writes the response as a PKCS#7 PEM (certificates sorted, CRLs dropped).

Added, on purpose: the response is **verified** (signature, and every certificate in it chaining to a
trusted CA) whenever a CA certificate is at hand: the CA certificates the NSS database ``-d DIR`` trusts
(``certutil`` trust ``C``), and those in ``--ca-cert FILE``. A response that fails verification is an
error (exit 1, no ``-o``); when no CA certificate is available the tool says plainly that nothing was
verified. Other differences: a malformed status (no otherInfo, unknown failInfo) is printed instead of
crashing, ``--help`` exits 0, and PEM input is accepted as well as DER.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.compat.tool import EXIT_FAILED, CompatError, run_main

if TYPE_CHECKING:
    from asn1crypto import cms

    from agent.cmc.asn1 import cmc
    from agent.cmc.response import CMCResponse
    from agent.compat.trust import TrustAnchors

TOOL = "CMCResponse"
STATUS_NAMES = (
    "success",
    "reserved",
    "failed",
    "pending",
    "not supported",
    "confirm required",
    "pop required",
    "partial",
)
"""JSS ``CMCStatusInfoV2.STATUS``, indexed by CMCStatus value."""
FAIL_INFO_NAMES = (
    "bad algorithm",
    "bad message check",
    "bad request",
    "bad time",
    "bad certificate id",
    "unsupported extensions",
    "must archive keys",
    "bad identity",
    "POP required",
    "POP failed",
    "no key reuse",
    "internal ca error",
    "try later",
    "authenticated data fail",
)
"""JSS ``OtherInfo.FAIL_INFO``, indexed by CMCFailInfo value."""
OCTET_CONTROLS = {
    "recipient_nonce": "CMC Recipient Nonce",
    "sender_nonce": "CMC Sender Nonce",
    "data_return": "CMC Data Return",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        print(f"ERROR: {message}", file=sys.stderr)
        print(f"Try '{TOOL} --help' for more information.", file=sys.stderr)
        raise SystemExit(EXIT_FAILED)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"{TOOL} [OPTIONS..]", add_help=False, description="Show and verify a CMC response."
    )
    parser.add_argument(
        "-d", default=".", metavar="path", help="NSS database whose trusted CAs verify the response"
    )
    parser.add_argument("-i", metavar="path", help="input file containing the CMC response (DER or PEM)")
    parser.add_argument("-o", metavar="path", help="on success, store the response as PKCS #7 PEM")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each certificate's base-64")
    parser.add_argument("--ca-cert", metavar="FILE", help="CA certificate(s) to verify the response with")
    parser.add_argument("--help", action="help", help="show this help message")
    return parser


def brace_oid(dotted: str) -> str:
    """JSS's ``OBJECT_IDENTIFIER.toString``: ``{1 3 6 1 5 5 7 7 25}``."""
    return "{" + dotted.replace(".", " ") + "}"


def java_bytes(data: bytes) -> str:
    """Each byte as a signed Java byte in decimal, each followed by a space."""
    return "".join(f"{b - 256 if b > 127 else b} " for b in data)


def _der(data: bytes) -> bytes:
    from agent.cmc.pem import to_der

    return data if data.lstrip()[:1] == b"\x30" else to_der(data, "the response")


# --- the listing -----------------------------------------------------------------------------------


def print_certificates(signed: cms.SignedData, verbose: bool) -> None:
    from agent.cmc.signeddata import certificates_of
    from agent.compat.b64 import mime_base64
    from agent.compat.certprint import pretty_certificate

    certificates = certificates_of(signed)
    if verbose:
        for index, certificate in enumerate(certificates):
            print(f"Cert:{index}")
            print(mime_base64(certificate.dump()))
            print("===")
    print("Certificates: ")
    print("".join(pretty_certificate(c) for c in certificates))
    print("")


def _body_part(reference: Any) -> str:
    """A bodyList entry: a BodyPartID, or (V2) a BodyPartReference that may be a path."""
    from agent.cmc.asn1 import cmc

    if isinstance(reference, cmc.BodyPartReference):
        if reference.name == "body_part_path":
            return "/".join(str(part) for part in reference.chosen.native)
        return str(reference.chosen.native)
    return str(reference.native)


def _status_lines(value: cmc.CMCStatusInfoV2) -> list[str]:
    body_list = [_body_part(reference) for reference in value["body_list"]]
    lines = ["   BodyList: " + "".join(f"{item} " for item in body_list)]
    status = int(value["cmc_status"])
    if status == 0:
        return [*lines, "   Status: SUCCESS"]
    if status == 5:
        return lines
    if value["status_string"].native is not None:
        lines.append(f"   Status String: {value['status_string'].native}")
    other = value["other_info"]
    if other.native is None:
        lines.append(f"   Status: {_status_name(status)} (no otherInfo)")
    elif other.name == "fail_info":
        fail_info = int(other.chosen)
        name = (
            FAIL_INFO_NAMES[fail_info] if 0 <= fail_info < len(FAIL_INFO_NAMES) else f"unknown ({fail_info})"
        )
        lines += ["   OtherInfo type: FAIL", f"     failInfo={name}"]
    elif other.name == "pend_info":
        pend = other.chosen
        moment = pend["pend_time"].native
        lines += [
            "   OtherInfo type: PEND",
            "PendInfo present...processing...",
            f"   Date: {time.strftime('%d/%b/%Y:%H:%M:%S %Z', time.localtime(moment.timestamp()))}",
            f"   Pending request id: {pend['pend_token'].native.decode('utf-8', 'replace')}",
        ]
    else:
        lines += ["   OtherInfo type: EXTENDED", f"     failInfoOID={other.chosen['fail_info_oid'].dotted}"]
    return lines


def _status_name(status: int) -> str:
    return STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else f"unknown ({status})"


def control_lines(index: int, control: cmc.TaggedAttribute) -> list[str]:
    """The lines Dogtag prints for one control; nothing for controls it does not print."""
    attr_type = control["attr_type"]
    name, oid = attr_type.native, brace_oid(attr_type.dotted)
    values = list(control["attr_values"])
    if name == "status_info_v2":
        lines = [f"Control #{index}: CMCStatusInfoV2", f"   OID: {oid}"]
        for value in values:
            lines += _status_lines(value)
        return lines
    if not values:
        return []
    if name == "transaction_id":
        return [f"Control #{index}: CMC Transaction Id", f"   OID: {oid}", f"   INTEGER: {int(values[0])}"]
    if name in OCTET_CONTROLS:
        return [
            f"Control #{index}: {OCTET_CONTROLS[name]}",
            f"   OID: {oid}",
            f"   Value: {java_bytes(values[0].native)}",
        ]
    if name == "encrypted_pop":
        return [f"Control #{index}: CMC encrypted POP", f"   OID: {oid}", "     encryptedPOP decoded"]
    if name == "response_info":
        request_id = int.from_bytes(values[0].native, "big", signed=True) if values[0].native else 0
        return [f"Control #{index}: CMC ResponseInfo", f"   requestID: {request_id}"]
    return []


def first_failure(body: cmc.PKIResponse) -> str | None:
    """``CMC status for [1]: pop required`` for the first status value that is not success."""
    for control in body["control_sequence"]:
        if control["attr_type"].native not in ("status_info_v2", "status_info"):
            continue
        for value in control["attr_values"]:
            status = int(value["cmc_status"])
            if status == 0:
                continue
            parts = [_body_part(reference) for reference in value["body_list"]]
            return f"CMC status for [{', '.join(parts)}]: {_status_name(status)}"
    return None


# --- verification and output -----------------------------------------------------------------------


def verify(data: bytes, dbdir: str, ca_cert: str | None) -> str | None:
    """Verify the response if a CA certificate is at hand; return the line to print, or None when
    there was nothing to verify against (the caller warns). Raises on a response that fails."""
    from agent.cmc.errors import CMCError
    from agent.cmc.response import read_response
    from agent.compat.trust import trust_anchors

    anchors = trust_anchors(dbdir, ca_cert, for_tls=False)
    try:
        if not anchors.certificates:
            read_response(data, trusted=None)  # still refuse a broken signature
            return None
        result = read_response(data, trusted=list(anchors.certificates))
    except CMCError as exc:
        raise CompatError(f"the response does not verify: {exc}") from None
    if result.kind == "simple":
        return f"Response verified: {result.signature.detail} ({'; '.join(anchors.sources)})"
    return signature_line(result, anchors)


def signature_line(result: CMCResponse, anchors: TrustAnchors) -> str:
    """``Response signature verified: signed by NAME, which chains to the trusted CA 'NICK' (CT,C,C) in
    DIR``: the one anchor the signer's path ends at, not every certificate the database trusts."""
    from agent.cmc import chain
    from agent.cmc.errors import CMCError
    from agent.compat.certprint import java_name

    signer = next(
        (c for c in result.certificates if c.subject.human_friendly == result.signature.signer), None
    )
    if signer is None:
        return f"Response signature verified: signed by {result.signature.signer}"
    try:
        anchor = chain.path_to_trust(signer, result.certificates, anchors.certificates)[-1]
    except CMCError:
        return f"Response signature verified: signed by {java_name(signer.subject)}"
    where = anchors.origin_of(anchor)
    if anchor.dump() == signer.dump():
        return f"Response signature verified: signed by {java_name(signer.subject)}, a trusted CA ({where})"
    return (
        f"Response signature verified: signed by {java_name(signer.subject)}, which chains to the trusted CA "
        f"{java_name(anchor.subject)} ({where})"
    )


def pkcs7_pem(content_info: cms.ContentInfo) -> str:
    """The whole SignedData as Dogtag's ``PKCS7.toPEMString`` writes it: certificates in DER SET order,
    CRLs dropped, signature and content kept."""
    from agent.cmc.der import encode_tlv
    from agent.compat.b64 import dogtag_pem

    signed = content_info["content"]
    certificates = sorted(choice.dump() for choice in signed["certificates"] or [])
    body = signed["version"].dump() + signed["digest_algorithms"].dump() + signed["encap_content_info"].dump()
    if certificates:
        body += encode_tlv(0xA0, b"".join(certificates))
    body += signed["signer_infos"].dump()
    content = encode_tlv(0x30, content_info["content_type"].dump() + encode_tlv(0xA0, encode_tlv(0x30, body)))
    return dogtag_pem(content, "PKCS7")


def _body(argv: list[str]) -> int:
    from agent.cli.common import write_output
    from agent.cmc import der, signeddata
    from agent.cmc.asn1 import cmc

    args = build_parser().parse_args(argv)
    if not args.i:
        print("ERROR: Missing input CMC response", file=sys.stderr)
        print(f"Try '{TOOL} --help' for more information.", file=sys.stderr)
        return EXIT_FAILED
    try:
        data = _der(Path(args.i).read_bytes())
    except OSError as exc:
        raise CompatError(f"cannot read {args.i}: {exc.strerror}") from None
    content_info = signeddata.load_content_info(data, "the response")
    signed = signeddata.signed_data_of(content_info, "the response")
    print_certificates(signed, args.verbose)
    encap = signed["encap_content_info"]
    if encap["content_type"].native not in ("pki_response", "data"):
        print("Invalid CMC Response Format")
    body = None
    if encap["content"].native is not None:
        body = der.load_der(cmc.PKIResponse, encap["content"].contents, "the PKIResponse")
        controls = list(body["control_sequence"])
        print(f"Number of controls is {len(controls)}")
        for index, control in enumerate(controls):
            for line in control_lines(index, control):
                print(line)
        print("CMC Full Response.")
    else:
        print("CMC Simple Response.")

    verified = verify(data, args.d, args.ca_cert)
    if verified is None:
        print(
            f"WARNING: the response signature was NOT verified: no trusted CA certificate in {args.d} and no "
            "--ca-cert FILE (import the CA certificate with 'cmc-agent client-cert-import --ca-cert')",
            file=sys.stderr,
        )
    else:
        print(verified)
    failure = first_failure(body) if body is not None else None
    if failure is not None:
        print(f"ERROR: {failure}", file=sys.stderr)
        return EXIT_FAILED
    if args.o:
        write_output(args.o, pkcs7_pem(content_info))
        print(f"\nPKCS#7 now stored in file: {args.o}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
