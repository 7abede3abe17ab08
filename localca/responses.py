"""CMC responses laid out as Dogtag's CMCOutputTemplate writes them (dogtag-cmc-server.md §6).

A :class:`ResponseControls` collects controls and numbers them 1, 2, 3 ... in the order they are added
(the server's bodyPartIDs are unrelated to the request's). :func:`full_response` wraps them in the
signed PKIResponse of §6.1 with the issued certificates and the CA chain; :func:`failure_response` is
``createFullResponseWithFailedStatus`` (one failed status, bodyList literally ``{0}``, no echoed
controls, CA chain only); :func:`simple_response` is the certs-only Simple PKI Response.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from agent.cmc import pkiresponse
from agent.cmc.asn1 import cmc
from agent.keyops import SoftwareKey
from localca.cms import certs_only, signed_response

SUCCESS = 0
FAILED = 2
PENDING = 3
NO_SUPPORT = 4
CONFIRM_REQUIRED = 5
POP_REQUIRED = 6

BAD_ALG = 0
BAD_MESSAGE_CHECK = 1
BAD_REQUEST = 2
BAD_TIME = 3
BAD_CERT_ID = 4
UNSUPPORTED_EXT = 5
MUST_ARCHIVE_KEYS = 6
BAD_IDENTITY = 7
FAIL_POP_REQUIRED = 8
POP_FAILED = 9
NO_KEY_REUSE = 10
INTERNAL_CA_ERROR = 11
TRY_LATER = 12
AUTH_DATA_FAIL = 13


class ResponseControls:
    """The controlSequence of a PKIResponse under construction."""

    def __init__(self) -> None:
        self.controls: list[cmc.TaggedAttribute] = []
        self._next_body_part_id = 1

    def add(self, attr_type: str, values: core.Asn1Value | Sequence[object]) -> int:
        body_part_id = self._next_body_part_id
        self._next_body_part_id += 1
        self.controls.append(
            cmc.TaggedAttribute({"body_part_id": body_part_id, "attr_type": attr_type, "attr_values": values})
        )
        return body_part_id

    def add_status(
        self,
        status: int,
        body_list: Iterable[int],
        *,
        status_string: str | None = None,
        fail_info: int | None = None,
    ) -> int:
        value = pkiresponse.status_info_v2(
            status, list(body_list), status_string=status_string, fail_info=fail_info
        )
        return self.add("status_info_v2", [value])

    def pki_response(self) -> cmc.PKIResponse:
        return pkiresponse.pki_response(self.controls)


class ResponseSigner:
    """What is needed to sign responses: the CA key, its certificate and its chain."""

    def __init__(
        self, signer: SoftwareKey, certificate: asn1_x509.Certificate, chain: list[asn1_x509.Certificate]
    ) -> None:
        self.signer = signer
        self.certificate = certificate
        self.chain = chain


def full_response(
    signing: ResponseSigner, controls: ResponseControls, certificates: Sequence[asn1_x509.Certificate] = ()
) -> bytes:
    """A signed Full PKI Response; ``certificates`` (GetCert result, issued certificates) then the chain."""
    content_info = signed_response(
        econtent_type="pki_response",
        econtent=controls.pki_response().dump(),
        certificates=[*certificates, *signing.chain],
        signer_certificate=signing.certificate,
        signer=signing.signer,
    )
    return bytes(content_info.dump())


def failure_response(
    signing: ResponseSigner,
    fail_info: int,
    status_string: str | None,
    body_list: Iterable[int] = (0,),
) -> bytes:
    """``createFullResponseWithFailedStatus``: the one control, bodyList {0} unless told otherwise."""
    controls = ResponseControls()
    controls.add_status(FAILED, body_list, status_string=status_string, fail_info=fail_info)
    return full_response(signing, controls)


def simple_response(certificates: Sequence[asn1_x509.Certificate]) -> bytes:
    return bytes(certs_only(list(certificates)).dump())
