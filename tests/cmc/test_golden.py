"""Golden files: every request form, byte for byte, built from fixed RSA keys and fixed inputs.

RSA PKCS#1 v1.5 signatures are deterministic, so the same inputs give the same bytes; any change in
encoding shows up here. The local CA's tests may read these files as sample requests.

Regenerate (after a deliberate change, checking the diff with ``openssl asn1parse``) with
``CMC_UPDATE_GOLDEN=1 .venv/bin/pytest tests/cmc/test_golden.py``.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import cms, core, x509
from cryptography import x509 as crypto_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from agent.cmc import crmf, pkcs10, pkiresponse, signeddata
from agent.cmc.asn1 import cmc
from agent.cmc.pkidata import FullPKIRequestBuilder, second_trip_builder
from agent.cmc.response import read_response
from agent.keyops import SoftwareKey
from tests.cmc.independent import decode_exact, rfc5652

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CMC_UPDATE_GOLDEN") == "1"
SECRET = b"Secret.123"
IDENT = "testuser"
RANDOM = bytes(range(64))
NONCE = b"golden-nonce-000"
INVALIDITY = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def _key(name: str) -> SoftwareKey:
    path = GOLDEN / f"{name}.key.pem"
    if not path.exists():
        if not UPDATE:
            pytest.fail(f"missing golden key {path}; run with CMC_UPDATE_GOLDEN=1")
        key = SoftwareKey.generate("rsa:2048")
        path.write_bytes(
            key.private_key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return SoftwareKey.from_pem(path.read_bytes())


def _certificate(
    slug: str, name: str, key: SoftwareKey, issuer_key: SoftwareKey, issuer_name: str, serial: int, ca: bool
) -> x509.Certificate:
    path = GOLDEN / f"{slug}.crt.pem"
    if not path.exists():
        if not UPDATE:
            pytest.fail(f"missing golden certificate {path}; run with CMC_UPDATE_GOLDEN=1")
        subject = crypto_x509.Name(
            [
                crypto_x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
                crypto_x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        issuer = crypto_x509.Name(
            [
                crypto_x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example"),
                crypto_x509.NameAttribute(NameOID.COMMON_NAME, issuer_name),
            ]
        )
        certificate = (
            crypto_x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.private_key.public_key())
            .serial_number(serial)
            .not_valid_before(datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC))
            .not_valid_after(datetime.datetime(2045, 1, 1, tzinfo=datetime.UTC))
            .add_extension(crypto_x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key.private_key, hashes.SHA256())
        )
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return x509.Certificate.load(
        crypto_x509.load_pem_x509_certificate(path.read_bytes()).public_bytes(serialization.Encoding.DER)
    )


@dataclass(frozen=True)
class Material:
    ca_key: SoftwareKey
    agent_key: SoftwareKey
    user_key: SoftwareKey
    ca: x509.Certificate
    agent: x509.Certificate


@pytest.fixture(scope="module")
def material() -> Material:
    GOLDEN.mkdir(exist_ok=True)
    ca_key, agent_key, user_key = _key("ca"), _key("agent"), _key("user")
    ca = _certificate("ca", "Golden CA", ca_key, ca_key, "Golden CA", 1, True)
    agent = _certificate("agent", "Golden Agent", agent_key, ca_key, "Golden CA", 2, False)
    return Material(ca_key, agent_key, user_key, ca, agent)


def _first_trip_response(m: Material) -> bytes:
    """The CA's EncryptedPOP answer is random (session key, IV), so it is a stored input, made once."""
    path = GOLDEN / "input-encrypted-pop-response.der"
    if not path.exists():
        if not UPDATE:
            pytest.fail(f"missing golden input {path}; run with CMC_UPDATE_GOLDEN=1")
        user = m.user_key
        assert isinstance(user, SoftwareKey)
        request = cmc.TaggedRequest(
            "crm", crmf.build_crmf(user.public_key_info, "CN=testuser,UID=testuser", pop="none")[0]
        )
        encrypted_pop, _ = pkiresponse.encrypted_pop(request, user.public_key_info)
        controls = [
            pkiresponse.control(1, "encrypted_pop", encrypted_pop),
            pkiresponse.control(
                2, "status_info_v2", pkiresponse.status_info_v2("pop_required", [1], fail_info="pop_required")
            ),
            pkiresponse.control(3, "response_info", core.OctetString(pkiresponse.request_id_bytes(200))),
        ]
        message = pkiresponse.sign_response(pkiresponse.pki_response(controls), m.ca_key, m.ca, [m.ca])
        path.write_bytes(message.dump())
    return path.read_bytes()


def _forms() -> dict[str, Callable[[Material], cms.ContentInfo]]:
    def agent_signed(form: str) -> Callable[[Material], cms.ContentInfo]:
        def build(m: Material) -> cms.ContentInfo:
            user, agent_key = m.user_key, m.agent_key
            builder = FullPKIRequestBuilder().sender_nonce(NONCE).transaction_id(0x313233)
            if form == "pkcs10":
                builder = builder.add_pkcs10(
                    pkcs10.build_csr(user, "CN=server.example.com,O=Example", san=["dns:server.example.com"])
                )
            else:
                builder = builder.add_crmf(crmf.build_crmf(user, "CN=server.example.com,O=Example"))
            return builder.sign(agent_key, m.agent, chain=[m.ca])

        return build

    def shared_secret(form: str, pop_link: bool) -> Callable[[Material], cms.ContentInfo]:
        def build(m: Material) -> cms.ContentInfo:
            user = m.user_key
            assert isinstance(user, SoftwareKey)
            builder = FullPKIRequestBuilder()
            if form == "pkcs10":
                builder = builder.add_pkcs10(pkcs10.build_csr(user, "CN=testuser,UID=testuser", ski=True))
            else:
                builder = builder.add_crmf(crmf.build_crmf(user, "CN=testuser,UID=testuser", ski=True))
            builder = builder.identification(IDENT).identity_proof_v2(SECRET)
            if pop_link:
                builder = builder.pop_link_witness_v2(SECRET, random=RANDOM)
            return builder.sign_with_request_key(user)

        return build

    def decrypted_pop(m: Material) -> cms.ContentInfo:
        first = read_response(
            _first_trip_response(m), trusted=[m.ca], at=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
        )
        assert first.encrypted_pop is not None and first.request_id_bytes is not None
        builder = second_trip_builder(first.encrypted_pop, first.request_id_bytes, m.user_key)
        return builder.sign(m.agent_key, m.agent, chain=[m.ca])

    def revoke_signed(m: Material) -> cms.ContentInfo:
        agent = m.agent
        assert isinstance(agent, x509.Certificate)
        builder = FullPKIRequestBuilder().revoke_request(
            agent.issuer, 0x1234, "key_compromise", invalidity_date=INVALIDITY, comment="lost"
        )
        return builder.sign(m.agent_key, agent, chain=[m.ca])

    def revoke_shared_secret(m: Material) -> cms.ContentInfo:
        return (
            FullPKIRequestBuilder()
            .revoke_request("CN=Golden CA,O=Example", 0x1234, "superseded", passphrase=SECRET)
            .unsigned()
        )

    def get_cert(m: Material) -> cms.ContentInfo:
        agent = m.agent
        assert isinstance(agent, x509.Certificate)
        return FullPKIRequestBuilder().get_cert(agent.issuer, 2).sign(m.agent_key, agent, chain=[m.ca])

    return {
        "agent-signed-pkcs10": agent_signed("pkcs10"),
        "agent-signed-crmf": agent_signed("crmf"),
        "shared-secret-pkcs10": shared_secret("pkcs10", False),
        "shared-secret-pkcs10-poplink": shared_secret("pkcs10", True),
        "shared-secret-crmf-poplink": shared_secret("crmf", True),
        "decrypted-pop": decrypted_pop,
        "revoke-signed": revoke_signed,
        "revoke-shared-secret": revoke_shared_secret,
        "get-cert": get_cert,
    }


@pytest.mark.parametrize("name", list(_forms()))
def test_request_matches_golden_file(name: str, material: Material) -> None:
    built = _forms()[name](material).dump()
    path = GOLDEN / f"{name}.der"
    if UPDATE:
        path.write_bytes(built)
    assert path.exists(), f"missing {path}; run with CMC_UPDATE_GOLDEN=1"
    assert built == path.read_bytes(), f"{name} no longer matches {path}"
    # and the golden file is what it claims: strict DER, decodable by pyasn1, signed where it should be
    content_info = signeddata.load_content_info(built)
    decode_exact(built, rfc5652.ContentInfo(), reencode=False, open_types=False)
    if name == "revoke-shared-secret":
        assert content_info["content_type"].native == "data"
        return
    key = material.user_key
    assert isinstance(key, SoftwareKey)
    verified = signeddata.verify_signed_data(
        content_info,
        expected_content_type="pki_data",
        signer_public_key=key.public_key_info if name.startswith("shared-secret") else None,
        trusted_certificates=None if name.startswith("shared-secret") else [material.ca],
        at=datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC),
    )
    assert cmc.PKIData.load(verified.content).dump() == verified.content
