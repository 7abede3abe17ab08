"""``CMCRequest CFG``: Dogtag's CMC request builder, driven by the same config file.

The file is read with CMCRequest's own line parser (:func:`agent.compat.configfile.parse_cmcrequest_config`)
and every key keeps its meaning (``dogtag-cmc-client.md`` §1.2). Three modes, as in Dogtag:

* enrollment (``format``, ``input``, ``numRequests``, ``output``): signed with the ``nickname``
  certificate's key (agent- or user-signed), or with the request's own key when
  ``request.useSharedSecret=true`` (shared-secret enrollment: identification, identityProofV2,
  popLinkWitnessV2);
* revocation (``revRequest.enable=true``): signed with ``nickname``, or unsigned with
  ``revRequest.sharedSecret``;
* the EncryptedPOP second trip (``decryptedPop.enable=true``): the challenge is decrypted on the
  device that holds ``request.privKeyId``, and the request signed with ``nickname``.

Everything is built by :class:`agent.cmc.pkidata.FullPKIRequestBuilder`; keys are used on their
device (``dbdir`` + ``tokenname``). Deliberate differences from the Java tool:

* ``identityProofV2``/``popLinkWitnessV2`` algorithms left at Dogtag's built-in default ``SHA256`` (which
  the Java tool does not recognise: it silently drops identityProofV2, or exits on popLinkWitnessV2)
  mean SHA-256 / HMAC-SHA-256, with a warning. ``SHA-384-HMAC`` is refused: no Dogtag CA can verify it.
* ``*.enable`` switches are read case-insensitively; identityProofV2 without ``witness.sharedSecret``
  is an error (Dogtag MACs with the word "null").
* The first-trip response is verified (signature and trust: the CA certificates the database trusts,
  or ``cacert=FILE``) before its challenge is answered, and is read whole (no 10,000-byte buffer).
* Body part IDs are unique; a configured ``senderNonce`` is sent as given, a default one is random.
* Not supported, refused by name: ``format=test_cmc``, identityProof V1, ``confirmCertAcceptance``,
  ``LraPopWitness``.
"""

from __future__ import annotations

import datetime
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.compat.requestconfig import (
    TOOL,
    RequestConfig,
    common_controls,
    load_requests,
    parse_serial,
    read_input,
    shared_secret_controls,
)
from agent.compat.tool import EXIT_FAILED, CompatError, run_main, warn

if TYPE_CHECKING:
    from asn1crypto import cms, x509

    from agent.cmc.response import CMCResponse
    from agent.compat.dogtagdb import DogtagDevices
    from agent.keyops import KeyTransport

USAGE = """
Usage: CMCRequest <configuration file>
For example, CMCRequest CMCRequest.cfg

The configuration file holds name=value lines, e.g.:
  dbdir=/home/agent/.dogtag/nssdb/     NSS database holding the signing certificate and key
  password=...                         token password (keep the file chmod 600)
  tokenname=internal                   or the label of an HSM / smart card token
  nickname=ca_agent                    signing certificate (not needed with request.useSharedSecret=true)
  format=pkcs10                        or crmf
  numRequests=1
  input=/path/request.csr              PEM or base-64 request(s), space separated
  output=/path/cmc-request.bin         the CMC request, binary DER
  request.useSharedSecret=true         sign with the request key (request.privKeyId) instead
  identification.enable=true / identification=UID / witness.sharedSecret=...
  identityProofV2.enable=true / identityProofV2.hashAlg=SHA-256 / identityProofV2.macAlg=SHA-256-HMAC
  popLinkWitnessV2.enable=true / popLinkWitnessV2.keyGenAlg=SHA-256 / popLinkWitnessV2.macAlg=SHA-256-HMAC
  revRequest.enable=true / revRequest.serial / revRequest.reason / revRequest.sharedSecret / ...
  decryptedPop.enable=true / encryptedPopResponseFile / decryptedPopRequestFile / oaep=true
  cacert=/path/ca.pem                  (cmc-agent) CA certificate to verify the first-trip response
"""


# --- signing ---------------------------------------------------------------------------------------


def _signer(
    config: RequestConfig, devices: DogtagDevices, why: str
) -> tuple[Any, x509.Certificate, list[Any]]:
    nickname = config.get("nickname")
    if not nickname:
        raise CompatError(f"nickname= is required: {why}")
    listing = devices.certificate(nickname)
    key = devices.key_of(listing)
    print(f"token {devices.tokenname or 'internal'} logged in...")
    print(f"got signerCert: {nickname}")
    return key, listing.certificate, devices.chain_above(listing.certificate)


def _request_key(config: RequestConfig, devices: DogtagDevices) -> Any:
    key_id = config.text("request.privKeyId")
    key = devices.key_by_dogtag_id(key_id)
    print(f"got request privKeyId: {key_id}")
    print("got private key")
    return key


def build_enrollment(config: RequestConfig, devices: DogtagDevices) -> tuple[cms.ContentInfo, str]:
    from agent.cmc.asn1 import crmf as asn1_crmf
    from agent.cmc.pkidata import FullPKIRequestBuilder

    requests = load_requests(config)
    builder = FullPKIRequestBuilder()
    for request in requests:
        if isinstance(request, asn1_crmf.CertReqMsg):
            builder = builder.add_crmf(request)
        else:
            builder = builder.add_pkcs10(request)
    builder = shared_secret_controls(config, common_controls(config, builder, requests))
    output = config.text("output")
    if config.shared_secret_signing():
        print("useSharedSecret is true...")
        request_key = _request_key(config, devices)
        return builder.sign_with_request_key(request_key), output
    print("useSharedSecret is false...")
    signer, certificate, chain = _signer(
        config, devices, "the request is signed with that certificate (or set request.useSharedSecret=true)"
    )
    request_key = _request_key(config, devices) if config.enabled("popLinkWitnessV2.enable") else None
    return builder.sign(signer, certificate, chain=chain, request_key=request_key), output


def build_revocation(config: RequestConfig, devices: DogtagDevices) -> tuple[cms.ContentInfo, str]:
    from agent.cmc.pkidata import FullPKIRequestBuilder
    from agent.cmc.reasons import revocation_reason

    serial = parse_serial(config.text("revRequest.serial"), "revRequest.serial")
    reason_text = config.text("revRequest.reason")
    reason = revocation_reason(reason_text, dogtag_only=True)
    if reason is None:
        raise CompatError(
            f"revRequest.reason={reason_text}: use one of unspecified, keyCompromise, caCompromise, "
            "affiliationChanged, superseded, cessationOfOperation, certificateHold, removeFromCRL"
        )
    invalidity = (
        datetime.datetime.now(datetime.UTC) if config.enabled("revRequest.invalidityDatePresent") else None
    )
    comment = config.get("revRequest.comment") or None
    builder = common_controls(config, FullPKIRequestBuilder(), ())
    output = config.text("output")
    secret = config.get("revRequest.sharedSecret")
    if secret:
        issuer = config.get("revRequest.issuer")
        if not issuer:
            raise CompatError(
                "revRequest.issuer= (the issuer DN of the certificate) is required with a shared secret"
            )
        builder = builder.revoke_request(
            issuer,
            serial,
            reason,
            invalidity_date=invalidity,
            passphrase=secret.encode("utf-8"),
            comment=comment,
        )
        return builder.unsigned(), output
    signer, certificate, chain = _signer(
        config, devices, "a revocation is signed with it (or give revRequest.sharedSecret)"
    )
    if config.get("revRequest.issuer"):
        warn(
            TOOL,
            "revRequest.issuer is not used for a signed revocation: the signer's issuer is (as in Dogtag)",
        )
    builder = builder.revoke_request(
        certificate.issuer, serial, reason, invalidity_date=invalidity, comment=comment
    )
    return builder.sign(signer, certificate, chain=chain), output


def _trust_anchors(config: RequestConfig, devices: DogtagDevices) -> list[Any]:
    from agent.compat.trust import trust_anchors

    anchors = trust_anchors(devices.dbdir, config.get("cacert") or None, for_tls=False)
    if not anchors.certificates:
        raise CompatError(
            f"cannot verify the first-trip response: {devices.dbdir} trusts no CA certificate; import the "
            "CA certificate with 'cmc-agent client-cert-import --ca-cert ca.pem -d DBDIR' or set cacert=FILE"
        )
    return list(anchors.certificates)


def build_decrypted_pop(config: RequestConfig, devices: DogtagDevices) -> tuple[cms.ContentInfo, str]:
    from agent.cmc.errors import ChallengeDecryptionFailed, ChallengeWitnessMismatch
    from agent.cmc.pkidata import second_trip_builder
    from agent.cmc.response import read_response
    from agent.compat.certprint import signer_name

    if config.shared_secret_signing():
        raise CompatError(
            "the DecryptedPOP request is signed with a certificate: set nickname= and "
            "request.useSharedSecret=false"
        )
    response_file = config.text("encryptedPopResponseFile")
    output = config.text("decryptedPopRequestFile")
    print("processEncryptedPopResponse:  begins.")
    first = read_response(
        read_input(response_file, "the first-trip response"), trusted=_trust_anchors(config, devices)
    )
    print(f"processEncryptedPopResponse:  response signature verified (signed by {signer_name(first)})")
    _refuse_unless_challenge(first, response_file)
    assert first.encrypted_pop is not None and first.request_id_bytes is not None  # checked just above
    print(f"processEncryptedPopResponse:    requestID: {first.request_id}")
    request_key = _request_key(config, devices)
    transport: KeyTransport = "rsa-oaep-sha256" if config.enabled("oaep") else "rsa-pkcs1v15"
    try:
        trip = second_trip_builder(first.encrypted_pop, first.request_id_bytes, request_key, transport)
    except ChallengeWitnessMismatch as exc:
        print("constructDecryptedPopRequest: Oops! witness failed to verify.  Must abort!")
        raise CompatError(str(exc)) from None
    except ChallengeDecryptionFailed as exc:
        if transport == "rsa-pkcs1v15":
            # Dogtag's NSS "unwraps" an OAEP-wrapped key as PKCS#1 v1.5 into garbage and fails here
            # (dogtag-cmc-client.md §12); a device refuses the unwrap itself, the user's mistake is the same
            print("constructDecryptedPopRequest: Oops! witness failed to verify.  Must abort!")
        raise CompatError(str(exc)) from None
    print("constructDecryptedPopRequest: Yay! witness verified")
    signer, certificate, chain = _signer(config, devices, "the DecryptedPOP request is signed with it")
    return trip.sign(signer, certificate, chain=chain), output


def _refuse_unless_challenge(first: CMCResponse, response_file: str) -> None:
    """Stop unless the first-trip response is an EncryptedPOP challenge: Dogtag's line on stdout (scripts
    test it; exit status 1 as Dogtag's), then our reason as the error line."""
    from agent.cmc.asn1.cmc import CMCFailInfo
    from agent.compat.cmcresponse import FAIL_INFO_NAMES

    method = "processEncryptedPopResponse: "
    if first.succeeded:
        print(f"{method}   Status: SUCCESS")
        print(f"{method} not what we expected, because encryptedPOP.enable is true!!!! exit now")
        raise CompatError(f"{response_file} reports success: there is no EncryptedPOP challenge to answer")
    numbers = {name: number for number, name in CMCFailInfo._map.items()}
    for status in first.statuses:
        if status.fail_info and status.fail_info != "pop_required":
            number = numbers.get(status.fail_info)
            jss_name = FAIL_INFO_NAMES[number] if number is not None else status.fail_info
            print(f"{method}failInfo={jss_name}")
            print(f"{method} not what we expected when encryptedPOP.enable is true;")
            raise CompatError(
                f"{response_file} is not an EncryptedPOP challenge: the CA answered {status.describe()}"
            )
    if not first.pop_required or first.encrypted_pop is None or first.request_id_bytes is None:
        statuses = "; ".join(s.describe() for s in first.statuses) or "no status"
        raise CompatError(f"{response_file} is not an EncryptedPOP challenge (POP required): {statuses}")


# --- main ------------------------------------------------------------------------------------------


def _body(argv: list[str]) -> int:
    from agent.cli.common import write_output
    from agent.compat.b64 import mime_base64
    from agent.compat.configfile import parse_cmcrequest_config, read_config_file, warn_if_password_exposed
    from agent.compat.dogtagdb import DogtagDevices
    from tokens.pins import PinSource

    if len(argv) != 1 or argv[0] in ("--help", "-help"):
        print(USAGE)
        return 0 if argv and argv[0] in ("--help", "-help") else EXIT_FAILED
    path = argv[0]
    values = parse_cmcrequest_config(read_config_file(path, TOOL))
    warn_if_password_exposed(path, values, TOOL)
    config = RequestConfig(values)
    devices = DogtagDevices(
        dbdir=Path(config.get("dbdir") or "."),
        tokenname=config.get("tokenname") or None,
        pins=PinSource(value=config.get("password") or None),
        login_source="password= in the config file",
    )
    if config.enabled("decryptedPop.enable"):
        message, output = build_decrypted_pop(config, devices)
    elif config.enabled("revRequest.enable"):
        message, output = build_revocation(config, devices)
    else:
        message, output = build_enrollment(config, devices)
    der = message.dump()
    write_output(output, der)
    print("")
    print("The CMC enrollment request in base-64 encoded format:")
    print("")
    print(mime_base64(der))
    print("")
    print("")
    print(f"The CMC enrollment request in binary format is stored in {output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
