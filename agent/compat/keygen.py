"""The key options PKCS10Client and CRMFPopClient share, and the key pair they make on the device.

``-a rsa|ec``, ``-l BITS``, ``-c CURVE``, ``-t``, ``-s``, ``-e``, ``-x``, ``-w`` keep their Dogtag
meaning where it is safe. Differences, on purpose:

* The key is always a token key. Dogtag's ``-t true`` (and CRMFPopClient's EC default) makes a session
  key that vanishes with the process, so the ``.keyId`` it writes can never be used by CMCRequest; here
  ``-t true`` is accepted with a warning and the key is kept.
* Keys are sensitive and, unless they are meant for KRA archival, not extractable. ``-s 0`` and
  ``-e 1`` (a key that may leave the device in clear) are refused.
* ML-DSA and ML-KEM are not offered by the device layer yet; they are refused by name.

The key's ``CKA_ID`` is NSS's (SHA-1 of the RSA modulus / EC point), so ``certutil -K`` shows the same
id as the ``.keyId`` file, in Dogtag's text form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.compat.tool import CompatError, warn

if TYPE_CHECKING:
    from pathlib import Path

    from agent.compat.dogtagdb import DogtagDevices
    from tokens.keys import DeviceKey

RSA_SIZES = (2048, 3072, 4096)
CURVES = {
    "nistp256": "p256",
    "secp256r1": "p256",
    "prime256v1": "p256",
    "p256": "p256",
    "nistp384": "p384",
    "secp384r1": "p384",
    "p384": "p384",
    "nistp521": "p521",
    "secp521r1": "p521",
    "p521": "p521",
}


@dataclass(frozen=True)
class KeyOptions:
    """The key-related options as given (strings, or None when absent)."""

    algorithm: str = "rsa"
    length: str | None = None
    curve: str | None = None
    temporary: str | None = None
    sensitive: str | None = None
    extractable: str | None = None


def key_spec(options: KeyOptions, tool: str) -> str:
    """``rsa:2048`` / ``ec:p256`` for :func:`tokens.keys.generate_key_pair`, or a clear refusal."""
    algorithm = options.algorithm.lower()
    if algorithm in ("mldsa", "mlkem"):
        raise CompatError(f"-a {algorithm}: {algorithm.upper()} keys are not supported yet; use rsa or ec")
    if algorithm == "rsa":
        if options.curve is not None:
            raise CompatError("-c (curve) is only for -a ec")
        try:
            bits = int(options.length) if options.length is not None else 2048
        except ValueError:
            raise CompatError(f"-l {options.length}: the key length is a number of bits") from None
        if bits not in RSA_SIZES:
            raise CompatError(f"-l {bits}: RSA keys of {', '.join(map(str, RSA_SIZES))} bits are supported")
        spec = f"rsa:{bits}"
    elif algorithm == "ec":
        if options.length is not None:
            raise CompatError("-l (key length) is not for -a ec; choose the curve with -c")
        curve = CURVES.get((options.curve or "nistp256").lower())
        if curve is None:
            raise CompatError(f"-c {options.curve}: use nistp256, nistp384 or nistp521")
        spec = f"ec:{curve}"
    else:
        raise CompatError(f"-a {options.algorithm}: the algorithm is rsa or ec")
    _check_key_flags(options, tool)
    return spec


def _check_key_flags(options: KeyOptions, tool: str) -> None:
    if options.temporary is not None and options.temporary.lower() == "true":
        warn(tool, "-t true ignored: the key is kept on the token, or its .keyId could never be used")
    for option, value, refused in (("-s", options.sensitive, "0"), ("-e", options.extractable, "1")):
        if value is None:
            continue
        if value not in ("-1", "0", "1"):
            raise CompatError(f"{option} {value}: use -1, 0 or 1")
        if value == refused:
            raise CompatError(
                f"{option} {value}: cmc-agent never makes a key that can leave its device in clear"
            )


def generate_request_key(devices: DogtagDevices, spec: str, *, archivable: bool = False) -> DeviceKey:
    """A key pair made on the token ``tokenname`` names: sensitive; extractable only (wrapped) for archival.

    Like the keys Dogtag's tools make through NSS, it has no label: it is named by its id (the ``.keyId``
    file), and takes the nickname of the certificate imported for it.
    """
    from tokens.keys import generate_key_pair

    return generate_key_pair(devices.token(), None, spec, archivable=archivable)


def write_key_id(output: str | Path, key: DeviceKey) -> str:
    """``<output>.keyId``: the Dogtag key id, no line break (as PKCS10Client/CRMFPopClient write it)."""
    path = f"{output}.keyId"
    from agent.cli.common import write_output

    write_output(path, key.dogtag_key_id)
    return path
