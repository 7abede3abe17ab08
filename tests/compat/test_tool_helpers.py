"""The small translations the compatible commands make, checked without devices: CMCRequest's algorithm
names and control values, CMCResponse's Java-style printing."""

from __future__ import annotations

import pytest

from agent.cmc.asn1 import cmc
from agent.cmc.pkidata import FullPKIRequestBuilder
from agent.compat.cmcresponse import brace_oid, control_lines, first_failure, java_bytes
from agent.compat.requestconfig import RequestConfig, common_controls, witness_hash, witness_mac
from agent.compat.tool import CompatError


@pytest.mark.parametrize(
    ("value", "expected"), [("SHA-256", "sha256"), ("SHA-384", "sha384"), ("SHA-512", "sha512")]
)
def test_witness_hash_names(value: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        witness_hash(RequestConfig({"identityProofV2.hashAlg": value}), "identityProofV2.hashAlg") == expected
    )
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("values", [{}, {"popLinkWitnessV2.macAlg": "SHA256"}])
def test_dogtags_sha256_default_is_sha_256_with_a_warning(
    values: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert witness_mac(RequestConfig(values), "popLinkWitnessV2.macAlg") == "sha256"
    assert "popLinkWitnessV2.macAlg" in capsys.readouterr().err


def test_sha_384_hmac_and_unknown_names_are_refused() -> None:
    with pytest.raises(CompatError, match="can never be verified by a Dogtag CA"):
        witness_mac(RequestConfig({"k": "SHA-384-HMAC"}), "k")
    with pytest.raises(CompatError, match="use SHA-256, SHA-384 or SHA-512"):
        witness_hash(RequestConfig({"k": "MD5"}), "k")
    assert witness_mac(RequestConfig({"k": "SHA-512-HMAC"}), "k") == "sha512"


def _controls(values: dict[str, str]) -> dict[str, object]:
    builder = common_controls(RequestConfig(values), FullPKIRequestBuilder().get_cert("CN=CA", 7), ())
    data = builder.build()
    return {c["attr_type"].native: c["attr_values"][0] for c in data["control_sequence"]}


def test_transaction_id_is_the_ascii_of_the_configured_id() -> None:
    """Dogtag: ``new INTEGER(1, id.getBytes())``, so ``123`` is 0x313233."""
    found = _controls({"transactionMgt.enable": "true", "transactionMgt.id": "123"})
    assert found["transaction_id"].native == 0x313233  # type: ignore[attr-defined]


def test_configured_sender_nonce_and_data_return_are_sent_as_given() -> None:
    found = _controls(
        {
            "senderNonce.enable": "TRUE",
            "senderNonce": "my nonce",
            "dataReturn.enable": "true",
            "dataReturn.data": "echo me",
        }
    )
    assert found["sender_nonce"].native == b"my nonce"  # type: ignore[attr-defined]
    assert found["data_return"].native == b"echo me"  # type: ignore[attr-defined]


def test_unsupported_controls_are_refused_by_name() -> None:
    with pytest.raises(CompatError, match="confirmCertAcceptance"):
        _controls({"confirmCertAcceptance.enable": "true"})


def test_java_printing() -> None:
    assert brace_oid("1.3.6.1.5.5.7.7.25") == "{1 3 6 1 5 5 7 7 25}"
    assert java_bytes(b"\x00\x7f\x80\xff") == "0 127 -128 -1 "


def _status(status: int, body_parts: list[int], fail_info: int | None = None) -> cmc.TaggedAttribute:
    value: dict[str, object] = {
        "cmc_status": status,
        "body_list": [cmc.BodyPartReference("body_part_id", b) for b in body_parts],
    }
    if fail_info is not None:
        value["other_info"] = cmc.OtherStatusInfo("fail_info", fail_info)
    return cmc.TaggedAttribute(
        {"body_part_id": 1, "attr_type": "status_info_v2", "attr_values": [cmc.CMCStatusInfoV2(value)]}
    )


def test_failure_lines_and_the_error_line() -> None:
    control = _status(2, [1, 2], fail_info=7)
    assert control_lines(0, control) == [
        "Control #0: CMCStatusInfoV2",
        "   OID: {1 3 6 1 5 5 7 7 25}",
        "   BodyList: 1 2 ",
        "   OtherInfo type: FAIL",
        "     failInfo=bad identity",
    ]
    response = cmc.PKIResponse({"control_sequence": [control], "cms_sequence": [], "other_msg_sequence": []})
    assert first_failure(response) == "CMC status for [1, 2]: failed"


def test_a_status_without_other_info_is_printed_not_a_crash() -> None:
    assert control_lines(3, _status(6, [1]))[-1] == "   Status: pop required (no otherInfo)"
