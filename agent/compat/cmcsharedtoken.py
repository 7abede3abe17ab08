"""``CMCSharedToken``: encrypt a shared-secret passphrase to the CA's issuance protection certificate.

The blob is Dogtag's (``dogtag-cmc-client.md`` §6.2): ``SEQUENCE { OCTET STRING wrappedKey, OCTET STRING
ciphertext }`` where a fresh AES-128 key encrypts the UTF-8 passphrase (CBC, PKCS#7 padding, the fixed
IV of sixteen 0x01 bytes the CA expects) and is wrapped to the certificate's RSA key with PKCS#1 v1.5,
or with RSA-OAEP SHA-256 under ``--oaep`` (which must match the CA's ``keyWrap.useOAEP``). It is printed
and written as Dogtag prints it (76-character CRLF lines); the CA administrator stores it as the user's
``shrTok`` (``cmc-localca shared-token add DIR --uid U --token-file F``).

Only the certificate's public key is used, so no token password is needed. Differences, on purpose:
the passphrase is never taken from argv (``-s`` is refused: use ``--passphrase-file FILE``,
``--passphrase-env NAME`` or the prompt), it is never printed (Dogtag's ``-v`` prints it), and ``-b``
does not import the certificate into the NSS database.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agent.compat.tool import CompatError, read_secret, refuse_secret_option, run_main, secret_on_command_line

TOOL = "CMCSharedToken"
FIXED_IV = b"\x01" * 16
"""Dogtag's CMCSharedToken and its CA both use this IV; it is not carried in the blob."""
SESSION_KEY_BYTES = 16


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        print(f"ERROR: {message}", file=sys.stderr)
        print(f"Try '{TOOL} --help' for more information.", file=sys.stderr)
        raise SystemExit(1)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=TOOL, add_help=False, description="Encrypt a CMC shared secret for the CA.")
    parser.add_argument("-d", default=".", metavar="DATABASE", help="NSS database (for -n; default .)")
    parser.add_argument("-h", metavar="TOKEN", help="token holding the -n certificate (default internal)")
    parser.add_argument("-p", metavar="PASSWORD", help="ignored, with a warning: no token password is needed")
    parser.add_argument("-s", metavar="PASSPHRASE", help="refused: use --passphrase-file or --passphrase-env")
    parser.add_argument("--passphrase-file", metavar="FILE", help="file whose first line is the passphrase")
    parser.add_argument(
        "--passphrase-env", metavar="NAME", help="environment variable holding the passphrase"
    )
    parser.add_argument("-b", metavar="FILE", help="PEM issuance protection certificate")
    parser.add_argument("-n", metavar="NICKNAME", help="issuance protection certificate nickname in -d")
    parser.add_argument("-o", metavar="FILE", help="also write the base-64 secret data here")
    parser.add_argument("--oaep", "-oaep", action="store_true", help="wrap with RSA-OAEP (SHA-256)")
    parser.add_argument("-v", "--verbose", action="store_true", help="verbose output (never the passphrase)")
    parser.add_argument("--help", action="help", help="show this help")
    return parser


def encrypt_passphrase(passphrase: str, certificate_der: bytes, *, oaep: bool) -> bytes:
    """The DER blob the CA decrypts with its issuance protection key."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from agent.cmc.der import encode_tlv
    from agent.keyops import random_bytes, rsa_transport_padding

    public_key = x509.load_der_x509_certificate(certificate_der).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise CompatError("the issuance protection certificate must carry an RSA key (the CA RSA-unwraps)")
    session_key = random_bytes(SESSION_KEY_BYTES)
    wrapped = public_key.encrypt(
        session_key, rsa_transport_padding("rsa-oaep-sha256" if oaep else "rsa-pkcs1v15")
    )
    plain = passphrase.encode("utf-8")
    pad = 16 - len(plain) % 16
    encryptor = Cipher(algorithms.AES(session_key), modes.CBC(FIXED_IV)).encryptor()
    ciphertext = encryptor.update(plain + bytes([pad]) * pad) + encryptor.finalize()
    return encode_tlv(0x30, encode_tlv(0x04, wrapped) + encode_tlv(0x04, ciphertext))


def _certificate(args: argparse.Namespace) -> bytes:
    from agent.cmc.pem import to_der
    from agent.compat.dogtagdb import is_internal_token

    if args.b:
        try:
            return to_der(Path(args.b).read_bytes(), "the issuance protection certificate")
        except OSError as exc:
            raise CompatError(f"cannot read {args.b}: {exc.strerror}") from None
    if args.n:
        import subprocess

        nickname = args.n if is_internal_token(args.h) else f"{args.h}:{args.n}"
        result = subprocess.run(
            ["certutil", "-L", "-d", f"sql:{args.d}", "-n", nickname, "-r"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        if result.returncode != 0 or not result.stdout:
            raise CompatError(f"no certificate with nickname {args.n!r} in {args.d}")
        return result.stdout
    raise CompatError(
        "Invalid command: either nickname (-n) or PEM file (-b) must be provided for the Issuance "
        "Protection Certificate"
    )


def _body(argv: list[str]) -> int:
    from agent.cli.common import write_output
    from agent.compat.b64 import mime_base64

    args = build_parser().parse_args(argv)
    if args.p is not None:
        secret_on_command_line(
            TOOL,
            "-p",
            "token password",
            "no password at all: CMCSharedToken only reads certificates, leave -p out",
        )
    if args.s is not None:
        refuse_secret_option(
            "-s", "shared passphrase", "--passphrase-file FILE, --passphrase-env NAME, or the prompt"
        )
    certificate = _certificate(args)
    passphrase = read_secret(
        file=args.passphrase_file,
        env=args.passphrase_env,
        what="shared passphrase",
        file_option="--passphrase-file",
        env_option="--passphrase-env",
        confirm=True,
    )
    if args.verbose:
        print("Loading issuance protection certificate")
        print("Generating session key")
        print("Encrypting passphrase")
        print("Wrapping session key with issuance protection cert")
    try:
        blob = encrypt_passphrase(passphrase, certificate, oaep=args.oaep)
    except ValueError as exc:
        raise CompatError(f"the issuance protection certificate cannot be used: {exc}") from None
    text = mime_base64(blob)
    print("\nEncrypted Secret Data:")
    print(text)
    if args.o:
        print(f"\nStoring Base64 secret data into {args.o}")
        write_output(args.o, text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
