"""CMCRequest's config keys, read into what the builder needs: modes, algorithms, inputs, controls.

Kept apart from :mod:`agent.compat.cmcrequest` (which opens devices and signs) so that every
translation of a Dogtag key into a builder call is plain code, checked without a device:

* the witness algorithm names (``SHA-256``, ``SHA-512-HMAC``, ...), with Dogtag's broken built-in
  default ``SHA256`` taken as SHA-256 with a warning and ``SHA-384-HMAC`` refused;
* the request files (``format``, ``input``, ``numRequests``);
* the controls any request may carry (getCert, dataReturn, senderNonce, transactionId) and those of a
  shared-secret request (identification, identityProofV2, popLinkWitnessV2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.compat.tool import CompatError, warn

if TYPE_CHECKING:
    from agent.cmc.pkidata import FullPKIRequestBuilder

TOOL = "CMCRequest"
HASH_NAMES = {"SHA-256": "sha256", "SHA-384": "sha384", "SHA-512": "sha512"}
MAC_NAMES = {"SHA-256-HMAC": "sha256", "SHA-512-HMAC": "sha512"}
DOGTAG_DEFAULT_ALGORITHM = "SHA256"
"""CMCRequest's built-in default for the witness algorithms: a name its own lookups do not know."""
SENDER_NONCE_BYTES = 16


@dataclass(frozen=True)
class RequestConfig:
    """The parsed file, with the typed reads every mode shares."""

    values: dict[str, str]

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def text(self, key: str) -> str:
        value = self.values.get(key)
        if value is None or value == "":
            raise CompatError(f"{key}= is required in the configuration file")
        return value

    def enabled(self, key: str) -> bool:
        return (self.values.get(key) or "").strip().lower() == "true"

    def shared_secret_signing(self) -> bool:
        return self.enabled("request.useSharedSecret") or self.enabled("request.selfSign")


def witness_hash(config: RequestConfig, key: str) -> str:
    """A hash name for ``identityProofV2.hashAlg`` / ``popLinkWitnessV2.keyGenAlg``."""
    raw = config.get(key)
    if raw is None or raw == DOGTAG_DEFAULT_ALGORITHM:
        _warn_default(key, raw, "SHA-256")
        return "sha256"
    name = HASH_NAMES.get(raw.strip().upper())
    if name is None:
        raise CompatError(f"{key}={raw}: use SHA-256, SHA-384 or SHA-512")
    return name


def witness_mac(config: RequestConfig, key: str) -> str:
    """An HMAC name for ``identityProofV2.macAlg`` / ``popLinkWitnessV2.macAlg``."""
    raw = config.get(key)
    if raw is None or raw == DOGTAG_DEFAULT_ALGORITHM:
        _warn_default(key, raw, "SHA-256-HMAC")
        return "sha256"
    if raw.strip().upper() == "SHA-384-HMAC":
        raise CompatError(
            f"{key}=SHA-384-HMAC can never be verified by a Dogtag CA (it misspells the algorithm "
            "name); use SHA-256-HMAC or SHA-512-HMAC"
        )
    name = MAC_NAMES.get(raw.strip().upper())
    if name is None:
        raise CompatError(f"{key}={raw}: use SHA-256-HMAC or SHA-512-HMAC")
    return name


def _warn_default(key: str, raw: str | None, used: str) -> None:
    given = "is not set" if raw is None else f"is {raw}"
    warn(
        TOOL,
        f"{key} {given}: Dogtag's default SHA256 is not a name Dogtag's CMCRequest recognises (it "
        f"silently drops the control or fails); using {used}. Write {key}={used} to say so.",
    )


def parse_serial(text: str, key: str) -> int:
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text, 10)
    except ValueError:
        raise CompatError(f"{key}={text}: a serial number is decimal, or hex with 0x") from None
    if value < 0:
        raise CompatError(f"{key}={text}: a serial number is not negative")
    return value


# --- inputs ----------------------------------------------------------------------------------------


def read_input(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise CompatError(f"cannot read {what} {path}: {exc.strerror}") from None


def load_requests(config: RequestConfig) -> list[Any]:
    """The ``numRequests`` requests named by ``input`` (PKCS#10, or the first CertReqMsg of a CRMF)."""
    from agent.cmc import crmf, pkcs10

    request_format = config.text("format")
    if request_format == "test_cmc":
        raise CompatError("format=test_cmc (re-signing an existing CMC request) is not supported")
    if request_format not in ("pkcs10", "crmf"):
        raise CompatError(f"format={request_format}: use pkcs10 or crmf")
    try:
        count = int(config.text("numRequests"))
    except ValueError:
        raise CompatError(f"numRequests={config.get('numRequests')} is not a number") from None
    if count < 0:
        raise CompatError("numRequests must not be negative")
    paths = (config.get("input") or "").split()
    if len(paths) < count:
        raise CompatError(f"numRequests={count} but input= names {len(paths)} file(s)")
    requests = []
    for path in paths[:count]:
        data = read_input(path, "the request")
        if request_format == "pkcs10":
            requests.append(pkcs10.load_csr(data))
        else:
            requests.append(crmf.load_crmf(data)[0])
    return requests


def _public_key_bits(request: Any) -> bytes:
    from agent.cmc.asn1 import crmf as asn1_crmf
    from agent.cmc.keyid import subject_public_key_bits

    if isinstance(request, asn1_crmf.CertReqMsg):
        info = request["cert_req"]["cert_template"]["public_key"].untag()
    else:
        info = request["certification_request_info"]["subject_pk_info"]
    return subject_public_key_bits(info)


# --- controls --------------------------------------------------------------------------------------


def common_controls(
    config: RequestConfig, builder: FullPKIRequestBuilder, requests: Sequence[Any]
) -> FullPKIRequestBuilder:
    """getCert, dataReturn, senderNonce, transactionId: the controls any mode may carry."""
    from agent.keyops import random_bytes

    for unsupported, what in (
        (
            "confirmCertAcceptance.enable",
            "confirmCertAcceptance (Dogtag CAs always answer it with a failure)",
        ),
        ("LraPopWitness.enable", "LraPopWitness"),
        ("identityProof.enable", "identityProof V1 (HMAC-SHA1); use identityProofV2"),
    ):
        if config.enabled(unsupported):
            raise CompatError(f"{unsupported}=true: {what} is not supported")
    if config.enabled("popLinkWitness.enable") and not config.enabled("popLinkWitnessV2.enable"):
        warn(TOOL, "popLinkWitness.enable (V1) ignored: no CA verifies it; use popLinkWitnessV2")
    if config.enabled("getCert.enable"):
        builder = builder.get_cert(
            config.text("getCert.issuer"), parse_serial(config.text("getCert.serial"), "getCert.serial")
        )
    if config.enabled("dataReturn.enable"):
        builder = builder.data_return(config.text("dataReturn.data").encode("utf-8"))
    if config.enabled("senderNonce.enable"):
        nonce = config.get("senderNonce")
        builder = builder.sender_nonce(nonce.encode("utf-8") if nonce else random_bytes(SENDER_NONCE_BYTES))
    if config.enabled("transactionMgt.enable"):
        configured = config.get("transactionMgt.id")
        if configured:
            transaction = int.from_bytes(configured.encode("utf-8"), "big")
        elif requests:
            digest = hashlib.md5(_public_key_bits(requests[0]), usedforsecurity=False).digest()
            transaction = int.from_bytes(digest, "big")
        else:
            raise CompatError("transactionMgt.id= is needed when there is no request to derive it from")
        builder = builder.transaction_id(transaction)
    return builder


def shared_secret_controls(config: RequestConfig, builder: FullPKIRequestBuilder) -> FullPKIRequestBuilder:
    """identification, identityProofV2 and popLinkWitnessV2."""
    if config.enabled("identification.enable"):
        builder = builder.identification(config.text("identification"))
    proofs = config.enabled("identityProofV2.enable") or config.enabled("popLinkWitnessV2.enable")
    secret = config.get("witness.sharedSecret")
    if proofs and not secret:
        raise CompatError(
            "witness.sharedSecret= is required for identityProofV2 / popLinkWitnessV2 (the passphrase "
            "the CA administrator gave you)"
        )
    if proofs and not config.enabled("identification.enable"):
        raise CompatError(
            "identityProofV2 and popLinkWitnessV2 need identification.enable=true and identification=UID: "
            "the CA looks the shared secret up by it"
        )
    assert secret is not None or not proofs
    if config.enabled("identityProofV2.enable"):
        builder = builder.identity_proof_v2(
            (secret or "").encode("utf-8"),
            hash_name=witness_hash(config, "identityProofV2.hashAlg"),
            mac_name=witness_mac(config, "identityProofV2.macAlg"),
        )
    if config.enabled("popLinkWitnessV2.enable"):
        builder = builder.pop_link_witness_v2(
            (secret or "").encode("utf-8"),
            hash_name=witness_hash(config, "popLinkWitnessV2.keyGenAlg"),
            mac_name=witness_mac(config, "popLinkWitnessV2.macAlg"),
        )
    return builder
