"""Certificates bound to device keys: what certutil sees, and imports that never half-happen."""

from __future__ import annotations

import datetime
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from tests.devices import NSSDatabase
from tests.tokens.test_keys import fresh_label
from tokens.certs import import_certificate, list_certificates, read_certificates
from tokens.device import OpenToken
from tokens.errors import CertificateMismatch, InvalidCertificate, ObjectExists
from tokens.keys import DeviceKey, find_private_key, generate_key_pair
from tokens.uri import Pkcs11Uri


class ChainCA:
    """A two-level software CA (root -> intermediate) that issues certificates for device keys."""

    def __init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._cert("Test Root CA", self.root_key.public_key(), self.root_key, None, ca=True)
        self.sub_key = ec.generate_private_key(ec.SECP256R1())
        self.sub = self._cert("Test Sub CA", self.sub_key.public_key(), self.root_key, self.root, ca=True)

    def _cert(self, cn: str, public_key, signing_key, issuer, *, ca: bool) -> x509.Certificate:  # type: ignore[no-untyped-def]
        now = datetime.datetime.now(datetime.UTC)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer.subject if issuer else name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        return builder.sign(signing_key, hashes.SHA256())

    def issue(self, key: DeviceKey, cn: str) -> x509.Certificate:
        public = serialization.load_der_public_key(key.public_key_info.dump())
        return self._cert(cn, public, self.sub_key, self.sub, ca=False)


@pytest.fixture(scope="module")
def test_ca() -> ChainCA:
    return ChainCA()


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def test_import_with_chain_binds_the_certificate_to_its_key(any_token: OpenToken, test_ca: ChainCA) -> None:
    key = generate_key_pair(any_token, fresh_label("leaf"), "ec:p256")
    label = fresh_label("cert")
    result = import_certificate(any_token, label, _pem(test_ca.root, test_ca.issue(key, label), test_ca.sub))
    assert result.key_id == key.key_id
    (listed,) = list(list_certificates(any_token, label=label))
    assert (
        listed.key_id == key.key_id and listed.subject == f"CN={label}" and listed.issuer == "CN=Test Sub CA"
    )
    # The certificate's nickname now finds the key, as it does in NSS.
    assert find_private_key(any_token, Pkcs11Uri(object=label)).key_id == key.key_id
    assert list(list_certificates(any_token, subject="CN=Test Root CA"))


def test_certutil_sees_the_imported_certificate_under_its_nickname(
    nss_token: OpenToken, nssdb: NSSDatabase, test_ca: ChainCA
) -> None:
    key = generate_key_pair(nss_token, fresh_label("nss-leaf"), "rsa:2048")
    label = fresh_label("nss-cert")
    import_certificate(nss_token, label, _pem(test_ca.issue(key, label), test_ca.sub, test_ca.root))
    listing = subprocess.run(
        ["certutil", "-L", "-d", f"sql:{nssdb.directory}"], check=True, capture_output=True, text=True
    ).stdout
    assert label in listing
    keys = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{nssdb.directory}", "-f", str(nssdb.password_file)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    # certutil -K shows a labelled key under its own label, an unlabelled one under the certificate's.
    assert f"{key.key_id.hex()}   {key.label}" in keys


def test_pkcs7_chain_in_der_is_read(test_ca: ChainCA, sh_token: OpenToken) -> None:
    key = generate_key_pair(sh_token, fresh_label("p7"), "ec:p256")
    leaf = test_ca.issue(key, "p7 leaf")
    der = pkcs7.serialize_certificates([test_ca.root, leaf, test_ca.sub], serialization.Encoding.DER)
    assert {c.subject.native["common_name"] for c in read_certificates(der)} == {
        "Test Root CA",
        "Test Sub CA",
        "p7 leaf",
    }
    result = import_certificate(sh_token, fresh_label("p7cert"), der, include_chain=False)
    assert result.chain_labels == ()


def test_certificate_without_its_key_is_refused_and_nothing_is_left(
    sh_token: OpenToken, test_ca: ChainCA
) -> None:
    stray = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    orphan = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "orphan")]))
        .issuer_name(test_ca.sub.subject)
        .public_key(stray.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(test_ca.sub_key, hashes.SHA256())
    )
    before = len(list(list_certificates(sh_token)))
    with pytest.raises(CertificateMismatch, match="no private key on token"):
        import_certificate(sh_token, fresh_label("orphan"), _pem(orphan, test_ca.sub, test_ca.root))
    assert len(list(list_certificates(sh_token))) == before


def test_label_clash_rolls_back_the_whole_chain(sh_token: OpenToken) -> None:
    ca = ChainCA()  # a chain the token has never seen
    first = generate_key_pair(sh_token, fresh_label("clash1"), "ec:p256")
    second = generate_key_pair(sh_token, fresh_label("clash2"), "ec:p256")
    label = fresh_label("taken")
    import_certificate(sh_token, label, _pem(ca.issue(first, "first")), include_chain=False)
    before = len(list(list_certificates(sh_token)))
    with pytest.raises(ObjectExists, match=f"already has a certificate labelled '{label}'"):
        import_certificate(sh_token, label, _pem(ca.issue(second, "second"), ca.sub, ca.root))
    assert len(list(list_certificates(sh_token))) == before


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"not a certificate", "not a certificate"),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not a certificate or PKCS#7"),
        (b"", "no certificate|not a certificate"),
    ],
)
def test_bad_certificate_input_is_named(data: bytes, problem: str) -> None:
    with pytest.raises(InvalidCertificate, match=problem):
        read_certificates(data)


def test_an_unlabelled_key_takes_its_certificates_nickname(
    nss_token: OpenToken, nssdb: NSSDatabase, test_ca: ChainCA
) -> None:
    """As with keys NSS's own tools make: no label, named by id, then by the certificate's nickname."""
    key = generate_key_pair(nss_token, None, "ec:p256")
    assert key.label is None and "object=" not in str(key.uri)
    assert find_private_key(nss_token, Pkcs11Uri(id=key.key_id)).key_id == key.key_id
    nickname = fresh_label("nick")
    import_certificate(nss_token, nickname, _pem(test_ca.issue(key, nickname)))
    assert find_private_key(nss_token, Pkcs11Uri(object=nickname)).key_id == key.key_id
    keys = subprocess.run(
        ["certutil", "-K", "-d", f"sql:{nssdb.directory}", "-f", str(nssdb.password_file)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert f"{key.key_id.hex()}   {nickname}" in keys


def test_a_certificate_object_that_does_not_parse_is_skipped_not_fatal(sh_token: OpenToken) -> None:
    """Another tool may have stored garbage as a certificate; listing the rest must still work."""
    from pkcs11 import Attribute, CertificateType, ObjectClass

    label = fresh_label("garbage")
    garbage = sh_token.session().create_object(
        {Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
         Attribute.TOKEN: False, Attribute.LABEL: label, Attribute.VALUE: b"\x30\x03\x02\x01\x01",
         Attribute.SUBJECT: b"\x30\x00"},
    )  # fmt: skip
    try:
        assert list(list_certificates(sh_token, label=label)) == []
        list(list_certificates(sh_token))  # the whole listing survives it
    finally:
        garbage.destroy()
