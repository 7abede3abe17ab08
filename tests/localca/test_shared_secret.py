"""Shared-token enrollment: identification + identityProofV2 (+ popLinkWitnessV2), §4.3 and §8."""

from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pyasn1.type import char, univ

from localca.cli import main as cli_main
from tests.localca import independent as ind
from tests.localca.conftest import FULL, LocalCA, issued_certificates

SHARED_TOKEN = FULL + "?profileId=caFullCMCSharedTokenCert"


def shared_token_pkcs10(key: ind.PrivateKey, uid: str, secret: str) -> bytes:
    requests = [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=whatever the user typed", ski=True))]
    controls = [
        ind.control(2, ind.CMC["identification"], char.UTF8String(uid)),
        ind.control(3, ind.CMC["identityProofV2"], ind.identity_proof_v2(secret, uid, requests)),
    ]
    data = ind.pki_data(controls, requests)
    return ind.signed_cms(data, key, subject_key_identifier=ind.key_id(key))


def test_shared_token_enrollment(local_ca: LocalCA) -> None:
    uid = local_ca.unique("jdoe")
    local_ca.add_shared_token(uid, "correct horse battery")
    key = local_ca.new_rsa_key()
    response = local_ca.cmc(SHARED_TOKEN, shared_token_pkcs10(key, uid, "correct horse battery"))
    assert response.control_names() == ["statusInfoV2"]  # CI relies on exactly one control
    assert response.statuses[0].status == 0
    certificate = issued_certificates(local_ca, response)[0]
    assert certificate.subject.rfc4514_string() == f"UID={uid},OU=People,DC=example,DC=com"


def test_shared_token_with_crmf_and_22_byte_signer_id(local_ca: LocalCA) -> None:
    uid = local_ca.unique("crmfuser")
    local_ca.add_shared_token(uid, "s3cret")
    key = local_ca.new_rsa_key()
    requests = [ind.tagged_crmf(ind.crmf(key, "CN=crmf", ski=True))]
    controls = [
        ind.control(1, ind.CMC["identification"], char.UTF8String(uid)),
        ind.control(
            2, ind.CMC["identityProofV2"], ind.identity_proof_v2("s3cret", uid, requests, mac_name="sha512")
        ),
    ]
    data = ind.pki_data(controls, requests)
    signer_id = ind.crmf_ski_signer_id(key)
    assert len(signer_id) == 22
    response = local_ca.cmc(SHARED_TOKEN, ind.signed_cms(data, key, subject_key_identifier=signer_id))
    assert response.statuses[0].status == 0, response.statuses


def test_pop_link_witness_v2_when_required(local_ca: LocalCA) -> None:
    uid = local_ca.unique("linked")
    local_ca.add_shared_token(uid, "link secret")
    random_seed = os.urandom(32)

    def request(witness_secret: str) -> bytes:
        key = local_ca.new_rsa_key()
        witness = ind.pop_link_witness_v2(witness_secret, uid, random_seed)
        csr = ind.pkcs10(key, "CN=linked", ski=True, attributes=[(ind.CMC["popLinkWitnessV2"], witness)])
        requests = [ind.tagged_pkcs10(1, csr)]
        controls = [
            ind.control(1, ind.CMC["popLinkRandom"], univ.OctetString(random_seed)),  # bodyPartID 1 twice
            ind.control(2, ind.CMC["identification"], char.UTF8String(uid)),
            ind.control(3, ind.CMC["identityProofV2"], ind.identity_proof_v2("link secret", uid, requests)),
        ]
        return ind.signed_cms(ind.pki_data(controls, requests), key, subject_key_identifier=ind.key_id(key))

    with local_ca.configured(cmc__popLinkWitnessRequired="true"):
        assert local_ca.cmc(SHARED_TOKEN, request("link secret")).statuses[0].status == 0
        status = local_ca.cmc(SHARED_TOKEN, request("not the secret")).statuses[0]
    assert (status.fail_info, status.status_string) == (
        2,
        f"POP Link Witness Verification Failed: in POPLinkWitnessV2: ident_s={uid}",
    )


def test_token_written_by_a_cmcsharedtoken_style_tool(local_ca: LocalCA) -> None:
    """A token made outside the CA (AES-128-CBC, IV 01*16, key wrapped to the protection cert) is accepted."""
    from cryptography import x509

    protection = x509.load_pem_x509_certificate((local_ca.directory / "issuance-protection.pem").read_bytes())
    public_key = protection.public_key()
    assert isinstance(public_key, rsa.RSAPublicKey)
    session_key = os.urandom(16)
    secret = b"made by the tool"
    pad = 16 - len(secret) % 16
    encryptor = Cipher(algorithms.AES(session_key), modes.CBC(b"\x01" * 16)).encryptor()
    encrypted = encryptor.update(secret + bytes([pad]) * pad) + encryptor.finalize()
    wrapped = public_key.encrypt(session_key, padding.PKCS1v15())
    sequence = univ.Sequence()
    sequence.setComponentByPosition(0, univ.OctetString(wrapped))
    sequence.setComponentByPosition(1, univ.OctetString(encrypted))
    text = base64.encodebytes(ind.encode(sequence)).decode().replace("\n", "\r\n")  # multi-line, CRLF
    token_file = Path(local_ca.work) / "tool.token"
    token_file.write_text(text)
    uid = local_ca.unique("tooluser")
    assert (
        cli_main(
            ["shared-token", "add", str(local_ca.directory), "--uid", uid, "--token-file", str(token_file)]
        )
        == 0
    )
    key = local_ca.new_rsa_key()
    response = local_ca.cmc(SHARED_TOKEN, shared_token_pkcs10(key, uid, "made by the tool"))
    assert response.statuses[0].status == 0


def test_unsigned_enrollment_with_identity_proof(local_ca: LocalCA) -> None:
    """Unsigned id-data enrollment passes CMCUserSignedAuth when identityProofV2 holds (§4.2 (c))."""
    uid = local_ca.unique("unsigned")
    local_ca.add_shared_token(uid, "plain")
    key = local_ca.new_rsa_key()
    requests = [ind.tagged_pkcs10(1, ind.pkcs10(key, "CN=x"))]
    controls = [
        ind.control(2, ind.CMC["identification"], char.UTF8String(uid)),
        ind.control(3, ind.CMC["identityProofV2"], ind.identity_proof_v2("plain", uid, requests)),
    ]
    response = local_ca.cmc(SHARED_TOKEN, ind.unsigned_data(ind.pki_data(controls, requests)))
    assert response.statuses[0].status == 0


def test_shared_token_profile_rejects_user_signed_subjects(local_ca: LocalCA, agent: object) -> None:
    """A user-signed request to the shared-token profile has no shared-token subject: rejected."""
    from tests.localca.conftest import Client

    assert isinstance(agent, Client)
    user = local_ca.enroll_user(agent, "CN=Token Mixup,O=Example")
    data = ind.pki_data(
        [], [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=Token Mixup,O=Example"))]
    )
    body = ind.signed_cms(data, user.key, signer_certificate=user.der, certificates=[user.der])
    status = local_ca.cmc(SHARED_TOKEN, body, user).statuses[0]
    assert status.fail_info == 11
    assert status.status_string == (
        "Request Subject Name Not Matched {0}java.lang.Exception: CMCSharedTokenSubjectNameConstraint: "
        "authTokenSharedTokenSN null Rejected - {1}"
    )


def test_oaep_shared_token(local_ca: LocalCA) -> None:
    uid = local_ca.unique("oaep")
    with local_ca.configured(keyWrap__useOAEP="true"):
        local_ca.add_shared_token(uid, "wrapped with oaep")
        key = local_ca.new_rsa_key()
        response = local_ca.cmc(SHARED_TOKEN, shared_token_pkcs10(key, uid, "wrapped with oaep"))
    assert response.statuses[0].status == 0
    _ = hashes  # OAEP here is SHA-256/MGF1-SHA-256, as CMCSharedToken --oaep writes it
