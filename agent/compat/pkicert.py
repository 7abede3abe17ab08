"""What Dogtag's ``pki ca-cert-find`` and ``pki ca-cert-export`` print, for ``cmc-agent ca-cert-find`` and
``cmc-agent ca-cert-export`` (the walkthrough fetches the KRA transport certificate with them).

The lines are those of pki v11.3.1's ``CACertFindCLI`` and ``CACertCLI.printCertInfo``: a banner
(``MainCLI.printMessage``: the message between two lines of dashes as long as it), two-space-indented
``Name: value`` lines, serial numbers as ``CertId.toHexString`` (``0x`` and lower-case hex), the key
algorithm as ``getAlgorithmNameFromOID`` names it, dates as Java's ``Date.toString``
(``Thu Nov 26 19:03:43 UTC 2026``), here always in UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.rest import CertDataInfo

KEY_ALGORITHM_NAMES = {
    "1.2.840.113549.1.1.1": "PKCS #1 RSA",
    "1.2.840.113549.1.1.4": "PKCS #1 MD5 With RSA",
    "1.2.840.10040.4.1": "DSA",
}


def banner(message: str) -> list[str]:
    """``MainCLI.printMessage``."""
    return ["-" * len(message), message, "-" * len(message)]


def java_date(moment: datetime | None) -> str:
    """``java.util.Date.toString()`` in UTC; ``null`` for a missing date, as Java prints it."""
    if moment is None:
        return "null"
    utc = moment.astimezone(UTC)
    return f"{utc:%a %b %d %H:%M:%S} UTC {utc.year}"


def cert_id(serial: int) -> str:
    return f"0x{serial:x}"


def parse_cert_id(text: str) -> int:
    """``new CertId(String)``: ``0x`` hex, otherwise decimal."""
    value = text.strip()
    try:
        number = int(value[2:], 16) if value.lower().startswith("0x") else int(value, 10)
    except ValueError:
        raise ValueError(f"{text!r} is not a serial number (decimal, or hex with 0x)") from None
    if number < 0:
        raise ValueError(f"{text!r} is not a serial number: it is negative")
    return number


def key_algorithm(info: CertDataInfo) -> str:
    oid = info.key_algorithm_oid
    name = "" if oid is None else KEY_ALGORITHM_NAMES.get(oid, f"OID.{oid}")
    return name if info.key_length is None else f"{name} with {info.key_length}-bit key"


def cert_info_lines(info: CertDataInfo) -> list[str]:
    """``CACertCLI.printCertInfo``."""
    cert_type = str(info.cert_type)
    if info.version is not None:
        cert_type += f" version {info.version + 1}"
    lines = [
        f"  Serial Number: {cert_id(info.serial)}",
        f"  Subject DN: {info.subject_dn}",
        f"  Issuer DN: {info.issuer_dn}",
        f"  Status: {info.status}",
        f"  Type: {cert_type}",
        f"  Key Algorithm: {key_algorithm(info)}",
        f"  Not Valid Before: {java_date(info.not_valid_before)}",
        f"  Not Valid After: {java_date(info.not_valid_after)}",
        f"  Issued On: {java_date(info.issued_on)}",
        f"  Issued By: {info.issued_by}",
    ]
    if info.revoked_on is not None:
        lines.append(f"  Revoked On: {java_date(info.revoked_on)}")
    if info.revoked_by is not None:
        lines.append(f"  Revoked By: {info.revoked_by}")
    return lines


def find_lines(total: int | None, entries: Sequence[CertDataInfo]) -> list[str]:
    """``CACertFindCLI.execute``: ``N entries found``, the entries a blank line apart, then how many came."""
    lines = banner(f"{total if total is not None else len(entries)} entries found")
    if total == 0 or (total is None and not entries):
        return lines
    for index, info in enumerate(entries):
        if index:
            lines.append("")
        lines += cert_info_lines(info)
    return lines + banner(f"Number of entries returned {len(entries)}")
