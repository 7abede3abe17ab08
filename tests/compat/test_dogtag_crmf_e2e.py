"""Dogtag's own CRMF (``CRMFPopClient -y``: the SKI extnValue is the raw 20-byte key id) enrolled end to
end: CMCRequest (Dogtag's own config file) -> HttpClient -> cmc-localca -> CMCResponse, and through
``cmc-agent request --format crmf``; the SignerIdentifier is the 20 bytes Dogtag's CMCRequest derives.
The request, its key (in Dogtag's NSS database) and the config come from Dogtag v11.3.1's tools
(tests/samples/dogtag/SOURCE.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from pyasn1.codec.der import encoder
from pyasn1_modules import rfc4211, rfc5652

from agent.cmc.pem import to_der
from tests.cmc.independent import decode_exact
from tests.compat.conftest import LocalCA, spki, tool, write_config

SAMPLES = Path(__file__).resolve().parents[1] / "samples" / "dogtag"
SERVLET = "/ca/ee/ca/profileSubmitCMCFull?profileId=caFullCMCSharedTokenCert"
KEY_ID = (SAMPLES / "crmf-popsuccess-ski.req.keyId").read_text().strip()


@pytest.fixture(scope="module")
def dogtag_user(local_ca: LocalCA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dogtag's database and request in a work directory; the CA holds testuser's shared token."""
    work = tmp_path_factory.mktemp("dogtag-crmf")
    shutil.copytree(SAMPLES / "nssdb", work / "nssdb")
    for path in (work / "nssdb").iterdir():
        path.chmod(0o600)
    shutil.copy(SAMPLES / "crmf-popsuccess-ski.req", work / "crmf.req")
    secret = write_config(work / "secret", "Secret.123\n")
    tool("cmc-localca", "shared-token", "add", str(local_ca.directory), "--uid", "testuser", "--secret-file",
         str(secret))  # fmt: skip
    return work


def template() -> rfc4211.CertTemplate:
    messages = decode_exact(to_der((SAMPLES / "crmf-popsuccess-ski.req").read_bytes(), "crmf"),
                            rfc4211.CertReqMessages(), reencode=False)  # fmt: skip
    return messages[0]["certReq"]["certTemplate"]


def template_key() -> bytes:
    """The template's SubjectPublicKeyInfo as a plain SEQUENCE (in the template it is tagged [6])."""
    encoded = encoder.encode(template()["publicKey"])
    return b"\x30" + encoded[1:]


def raw_key_id() -> bytes:
    (extension,) = list(template()["extensions"])
    return extension["extnValue"].asOctets()


def signer_identifier(request: Path) -> bytes:
    content_info = decode_exact(request.read_bytes(), rfc5652.ContentInfo(), reencode=False)
    signed = content_info["content"]  # decoded as SignedData by its content type
    return signed["signerInfos"][0]["sid"]["subjectKeyIdentifier"].asOctets()


def submit_and_read(local_ca: LocalCA, work: Path, request: Path, name: str) -> x509.Certificate:
    response = work / f"{name}.resp"
    submit = (
        f"host=localhost\nport={local_ca.port}\nsecure=true\nclientmode=false\ndbdir={work / 'nssdb'}/\n"
        f"password=Secret.123\ntokenname=internal\ncacert={local_ca.ca_cert}\ninput={request}\n"
        f"output={response}\nservlet={SERVLET}\n"
    )
    tool("HttpClient", str(write_config(work / f"{name}-submit.cfg", submit)))
    chain = work / f"{name}.p7"
    shown = tool("CMCResponse", "-d", str(work / "nssdb"), "--ca-cert", str(local_ca.ca_cert), "-i",
                 str(response), "-o", str(chain))  # fmt: skip
    assert "   Status: SUCCESS\nCMC Full Response.\n" in shown.stdout
    issued = [c for c in pkcs7.load_pem_pkcs7_certificates(chain.read_bytes()) if c.subject != c.issuer]
    assert len(issued) == 1
    return issued[0]


def test_dogtag_crmf_through_cmcrequest_httpclient_localca_cmcresponse(
    local_ca: LocalCA, dogtag_user: Path
) -> None:
    work = dogtag_user
    config = (SAMPLES / "cmc-sharedsecret-crmf.cfg").read_text().replace("NSSDB_DIR", str(work / "nssdb"))
    config = config.replace("input=crmf-popsuccess-ski.req", f"input={work / 'crmf.req'}")
    config = config.replace("output=cmc-sharedsecret-crmf.der", f"output={work / 'ours.der'}")
    made = tool("CMCRequest", str(write_config(work / "cmc.cfg", config)))
    assert "The CMC enrollment request in binary format is stored in" in made.stdout
    assert len(raw_key_id()) == 20
    assert signer_identifier(work / "ours.der") == raw_key_id()
    assert signer_identifier(SAMPLES / "cmc-sharedsecret-crmf.der") == raw_key_id()  # as Dogtag's own
    issued = submit_and_read(local_ca, work, work / "ours.der", "cmcrequest")
    assert spki(issued) == template_key()


def test_dogtag_crmf_through_cmc_agent_request(local_ca: LocalCA, dogtag_user: Path) -> None:
    work = dogtag_user
    password = write_config(work / "password", "Secret.123\n")
    secret = write_config(work / "shared", "Secret.123\n")
    request = work / "agent.der"
    arguments = ["--format", "crmf", "--csr", str(work / "crmf.req"), f"--request-key={KEY_ID}",
                 "--nssdb", str(work / "nssdb"), "--pin-file", str(password), "--identification", "testuser",
                 "--secret-file", str(secret), "--pop-link-witness", "-o", str(request)]  # fmt: skip
    tool("cmc-agent", "request", *arguments)
    assert signer_identifier(request) == raw_key_id()
    issued = submit_and_read(local_ca, work, request, "agent")
    assert spki(issued) == template_key()
