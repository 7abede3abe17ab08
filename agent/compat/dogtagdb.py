"""Dogtag's names for keys and certificates, resolved to device objects.

The Java tools name everything by an NSS database directory (``dbdir``), a token (``tokenname``:
``internal`` for the database's own key store, or the label of any token NSS can reach) and a
certificate nickname or an NSS key id. This module turns those names into :mod:`tokens` objects:

* the token: the database's own ("NSS Certificate DB"), or a token of a module registered in its
  ``pkcs11.txt`` (an HSM added with ``modutil``), or, failing those, a token with that label in the usual
  modules (SoftHSM2, OpenSC, p11-kit), as NSS would find a smart card;
* a certificate by nickname, and the private key that belongs to it (same ``CKA_ID``);
* a private key by Dogtag key id (``request.privKeyId``, the ``.keyId`` files), searched on the named
  token and then in the database's own key store, as Dogtag searches "every token";
* the CA certificates the database **trusts** (``certutil`` trust flags ``C``): the trust anchors for
  verifying responses and servers. Trust lives in NSS's own trust objects, which ``certutil`` reads.

Private keys are only ever used where they live; nothing here reads key material.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from agent.compat.tool import CompatError

if TYPE_CHECKING:
    from asn1crypto import x509

    from tokens.certs import CertListing
    from tokens.device import OpenToken
    from tokens.keys import DeviceKey
    from tokens.pins import PinSource
    from tokens.tls import DeviceTlsKey

INTERNAL_TOKEN_NAMES = frozenset({"", "internal", "internal key storage token", "nss certificate db"})
_TRUST_LINE = re.compile(r"^(?P<nickname>.*\S)\s+(?P<trust>[A-Za-z]*,[A-Za-z]*,[A-Za-z]*)\s*$")
CERTUTIL_TIMEOUT = 60


def is_internal_token(name: str | None) -> bool:
    return name is None or name.strip().lower() in INTERNAL_TOKEN_NAMES


@dataclass
class DogtagDevices:
    """``dbdir`` + ``tokenname`` + a password source, opened lazily (a token is logged in once).

    ``login_source`` says, in the tool's own terms, where the password comes from
    (``password= in the config file``, ``-P FILE, --pin-env NAME or the prompt``): errors name it.
    The one password is the named token's; the database's own store, searched too, is then only
    read for what it shows without a login (certificates), as NSS does for a second token.
    """

    dbdir: Path
    tokenname: str | None
    pins: PinSource
    login_source: str
    _tokens: dict[str, OpenToken] = field(default_factory=dict, repr=False)

    @property
    def internal(self) -> bool:
        return is_internal_token(self.tokenname)

    # --- tokens ------------------------------------------------------------------------------------

    def token(self, *, login: bool = True) -> OpenToken:
        """The token ``tokenname`` names (the database's own key store for ``internal``)."""
        return self._open(None if self.internal else self.tokenname, login=login)

    def internal_token(self, *, login: bool = True) -> OpenToken:
        return self._open(None, login=login)

    def _open(self, label: str | None, *, login: bool) -> OpenToken:
        from tokens.device import open_token
        from tokens.errors import PinIncorrect, PinUnavailable, TokenNotFound
        from tokens.uri import Pkcs11Uri

        cache_key = f"{label or ''}|{login}"
        if cache_key in self._tokens:
            return self._tokens[cache_key]
        uri = Pkcs11Uri(token=label)
        try:
            try:
                token = open_token(uri, nssdb=self.dbdir, pins=self.pins, login=login)
            except TokenNotFound:
                if label is None:
                    raise
                # A token NSS would reach without pkcs11.txt naming its module (a smart card via p11-kit).
                token = open_token(uri, pins=self.pins, login=login)
        except PinUnavailable:
            raise CompatError(
                f"token {label or 'internal'!r} of {self.dbdir} needs its password: give it with "
                f"{self.login_source}"
            ) from None
        except PinIncorrect:
            raise CompatError(
                f"token {label or 'internal'!r} of {self.dbdir} refused the password given with "
                f"{self.login_source}"
            ) from None
        self._tokens[cache_key] = token
        return token

    def _search_order(self) -> list[OpenToken]:
        """The named token (logged in), then the database's own store (not logged in: its password is
        not the one we were given)."""
        tokens = [self.token()]
        if not self.internal:
            internal = self.internal_token(login=False)
            if internal is not tokens[0]:
                tokens.append(internal)
        return tokens

    # --- certificates and keys ---------------------------------------------------------------------

    def certificate(self, nickname: str) -> CertListing:
        """The certificate with this nickname (``token:nickname`` also accepted), newest first if several."""
        from tokens.certs import list_certificates

        wanted = nickname
        if ":" in nickname and not self.internal:
            prefix, _, rest = nickname.partition(":")
            if prefix == self.tokenname:
                wanted = rest
        found: list[CertListing] = []
        for token in self._search_order():
            found = list(list_certificates(token, label=wanted))
            if found:
                break
        if not found:
            raise CompatError(
                f"no certificate with nickname {nickname!r} in {self.dbdir} (token "
                f"{self.tokenname or 'internal'!r}); import it with 'cmc-agent client-cert-import'"
            )
        return max(found, key=lambda listing: listing.not_after)

    def key_of(self, listing: CertListing) -> DeviceKey:
        """The private key that belongs to a certificate: the key with the certificate's ``CKA_ID``."""
        from tokens.errors import KeyNotFound
        from tokens.keys import find_private_key, nss_key_id
        from tokens.uri import Pkcs11Uri

        key_id = listing.key_id or nss_key_id(listing.certificate.public_key)
        for token in self._search_order():
            try:
                return find_private_key(token, Pkcs11Uri(id=key_id, type="private"))
            except KeyNotFound:
                continue
        raise CompatError(
            f"the private key of certificate {listing.label!r} is not in {self.dbdir} (token "
            f"{self.tokenname or 'internal'!r}); a certificate is usable only where its key is"
        )

    def key_by_dogtag_id(self, key_id_text: str, what: str = "request.privKeyId") -> DeviceKey:
        """The private key with this Dogtag key id (signed hex, or ``0x`` + hex bytes)."""
        from tokens.errors import InvalidUri, KeyNotFound
        from tokens.keys import find_private_key, parse_dogtag_key_id
        from tokens.uri import Pkcs11Uri

        try:
            key_id = parse_dogtag_key_id(key_id_text)
        except InvalidUri as exc:
            raise CompatError(f"{what}: {exc}") from None
        for token in self._search_order():
            try:
                return find_private_key(token, Pkcs11Uri(id=key_id, type="private"))
            except KeyNotFound:
                continue
        raise CompatError(
            f"{what}={key_id_text}: no private key with that id (CKA_ID {key_id.hex()}) in {self.dbdir} "
            f"(token {self.tokenname or 'internal'!r}); use the .keyId file written with the request"
        )

    def certificates_on_tokens(self) -> list[x509.Certificate]:
        """Every certificate on the named token and in the database's own store (for chains)."""
        from tokens.certs import list_certificates

        seen: dict[bytes, x509.Certificate] = {}
        for token in self._search_order():
            for listing in list_certificates(token):
                seen.setdefault(listing.certificate.dump(), listing.certificate)
        return list(seen.values())

    def chain_above(self, certificate: x509.Certificate) -> list[x509.Certificate]:
        """The issuers of ``certificate`` that the database holds, nearest first (what NSS includes)."""
        from agent.cmc.chain import order_chain

        return order_chain(certificate, self.certificates_on_tokens())[1:]

    def tls_client_key(self, listing: CertListing) -> DeviceTlsKey:
        """The certificate's key described for pkcs11-provider, with the token logged in once.

        The password is read once and handed both to python-pkcs11 (here) and to the provider.
        """
        from tokens.device import CKF_PROTECTED_AUTHENTICATION_PATH
        from tokens.errors import PinUnavailable
        from tokens.nssdb import NssDatabase
        from tokens.pins import PROTECTED_AUTHENTICATION_PATH, PinSource, read_pin
        from tokens.tls import DeviceTlsKey

        token = self.token(login=False)
        pin: str | None = None
        if token.needs_login and not token.logged_in:
            protected = bool(token.info.flags & CKF_PROTECTED_AUTHENTICATION_PATH)
            try:
                read = read_pin(self.pins, None, token.label, protected)
            except PinUnavailable:
                raise CompatError(
                    f"token {token.label!r} needs its password: give it with {self.login_source}"
                ) from None
            pin = None if read is PROTECTED_AUTHENTICATION_PATH else str(read)
        token.login(PinSource(value=pin, prompt=False))
        key = self.key_of(listing)
        init_args = None
        if "softokn" in key.token.info.module_path:
            init_args = NssDatabase.open(self.dbdir).init_string().decode()
        provider_uri = key.token.info.uri.with_(id=key.key_id, type="private")
        return DeviceTlsKey(
            module_path=key.token.info.module_path,
            key_uri=str(provider_uri),
            pin=pin,
            module_init_args=init_args,
        )


# --- trust -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrustedCertificate:
    nickname: str
    trust: str
    certificate: x509.Certificate


def trusted_ca_certificates(
    dbdir: str | os.PathLike[str], *, for_tls: bool = False
) -> list[TrustedCertificate]:
    """The certificates the NSS database trusts as CAs: ``C`` in the SSL trust field (``for_tls``), or in
    any field (for checking CMC responses). Empty when ``dbdir`` is not an NSS database.

    Read with ``certutil -L``: NSS keeps trust in its own objects, which only NSS tools read reliably.
    """
    directory = Path(dbdir)
    if not (directory / "cert9.db").is_file():
        return []
    listing = _certutil(["-L", "-d", f"sql:{directory}"])
    if listing is None:
        return []
    trusted: list[TrustedCertificate] = []
    for line in listing.splitlines():
        match = _TRUST_LINE.match(line)
        if match is None:
            continue
        fields = match.group("trust").split(",")
        if not ("C" in fields[0] if for_tls else any("C" in f for f in fields)):
            continue
        nickname = match.group("nickname")
        exported = _certutil(["-L", "-d", f"sql:{directory}", "-n", nickname, "-a"])
        if exported is None:
            continue
        trusted.extend(
            TrustedCertificate(nickname, match.group("trust"), certificate)
            for certificate in _pem_certificates(exported.encode("ascii", "replace"))
        )
    return trusted


def _certutil(arguments: list[str]) -> str | None:
    try:
        result = subprocess.run(
            ["certutil", *arguments], capture_output=True, text=True, timeout=CERTUTIL_TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise CompatError("certutil (NSS tools) is not installed; install libnss3-tools") from None
    except subprocess.TimeoutExpired:
        return None
    return result.stdout if result.returncode == 0 else None


def _pem_certificates(data: bytes) -> list[x509.Certificate]:
    from asn1crypto import x509

    from agent.cmc.pem import all_pem_blocks

    certificates = []
    for block in all_pem_blocks(data, "CERTIFICATE"):
        try:
            certificate = x509.Certificate.load(block, strict=True)
            certificate.native  # noqa: B018 - decode it all now
        except ValueError:
            continue
        certificates.append(certificate)
    return certificates
