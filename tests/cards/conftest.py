"""The session's virtual smart card (tests/cards/stack.py), provisioned as a card issuer would.

Three RSA-2048 key pairs are made in the card's NSS database (libcacard's soft card keeps them there) and
certified by the session's local CA: a CA agent's certificate (``card-id``, the agent key and TLS client
key), a user's signing certificate (``card-sign``) and a user's encryption certificate (``card-enc``).
Then the card is inserted; from there on it is reached only through pcscd and OpenSC, and is read-only.

The tests are skipped, saying what is missing, only where the stack's packages are not installed
(``make system`` installs them).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from tests.cards.stack import NICKNAMES, CardStack, missing_parts, running_stack
from tests.devices import write_secret
from tests.running_ca import LocalCA, run

CARD_PIN = "77553311"
SUBJECTS = {
    "card-id": "CN=Card Agent,UID=cardagent,O=Example",
    "card-sign": "CN=Card Holder,UID=cardholder,O=Example",
    "card-enc": "CN=Card Holder Encryption,UID=cardholder,O=Example",
}


@dataclass(frozen=True)
class CardKey:
    """One of the card's keys: its nickname, CKA_ID (as the card reports it), URI and certificate file."""

    nickname: str
    key_id: bytes
    uri: str
    cert: Path

    @property
    def certificate(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert.read_bytes())


@dataclass(frozen=True)
class Card:
    stack: CardStack
    keys: dict[str, CardKey]

    @property
    def env(self) -> dict[str, str]:
        return self.stack.env

    @property
    def pin_args(self) -> tuple[str, ...]:
        return ("--pin-file", str(self.stack.pin_file))

    def agent(self) -> CardKey:
        return self.keys["card-id"]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """One of our commands, run as a user with this card in the reader would."""
        return run(*args, check=check, env=self.stack.env)


def _certutil(*args: str) -> None:
    subprocess.run(["certutil", *args], check=True, capture_output=True, timeout=120)


def provision_card_database(directory: Path, ca: LocalCA, pin_file: Path) -> dict[str, Path]:
    """The card's keys, made in its NSS database, certified by the CA; the certificates next to it."""
    directory.mkdir(parents=True)
    db = f"sql:{directory}"
    _certutil("-N", "-d", db, "-f", str(pin_file))
    noise = directory.parent / "noise"
    noise.write_bytes(bytes(range(256)) * 4)
    certs: dict[str, Path] = {}
    for nickname in NICKNAMES:
        csr, cert = directory.parent / f"{nickname}.csr", directory.parent / f"{nickname}.pem"
        _certutil("-R", "-d", db, "-f", str(pin_file), "-z", str(noise), "-k", "rsa", "-g", "2048",
                  "-s", SUBJECTS[nickname], "-a", "-o", str(csr))  # fmt: skip
        agent_group = () if nickname == "card-id" else ("--no-agent-group",)
        run("cmc-localca", "agent", "add", str(ca.directory), "--csr", str(csr), "--out", str(cert),
            *agent_group)  # fmt: skip
        _certutil("-A", "-d", db, "-f", str(pin_file), "-n", nickname, "-t", ",,", "-a", "-i", str(cert))
        certs[nickname] = cert
    return certs


def _key_ids(stack: CardStack, certs: dict[str, Path]) -> dict[str, bytes]:
    """Each certificate's CKA_ID on the card, read through OpenSC (the CAC driver numbers them)."""
    listing = subprocess.run(
        ["pkcs11-tool", "--module", stack.module, "--list-objects", "--type", "cert"],
        capture_output=True, text=True, env=stack.env, timeout=60, check=True,
    )  # fmt: skip
    serial_of = {x509.load_pem_x509_certificate(p.read_bytes()).serial_number: n for n, p in certs.items()}
    ids: dict[str, bytes] = {}
    for block in listing.stdout.split("Certificate Object")[1:]:
        fields = dict(line.strip().split(":", 1) for line in block.splitlines() if ":" in line)
        nickname = serial_of.get(int(fields["serial"].strip(), 16))
        if nickname is not None:
            ids[nickname] = bytes.fromhex(fields["ID"].strip())
    assert set(ids) == set(NICKNAMES), f"the card shows the certificates {listing.stdout}"
    return ids


@pytest.fixture(scope="session")
def card(local_ca: LocalCA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Card]:
    missing = missing_parts()
    if missing:
        pytest.skip(
            f"the virtual smart card stack is not installed (make system): missing {', '.join(missing)}"
        )
    base = tmp_path_factory.mktemp("card")
    pin_file = write_secret(base / "card.pin", CARD_PIN)
    certs = provision_card_database(base / "db", local_ca, pin_file)
    with running_stack(base, base / "db", CARD_PIN, pin_file) as stack:
        ids = _key_ids(stack, certs)
        keys = {n: CardKey(n, ids[n], stack.key_uri(ids[n]), certs[n]) for n in NICKNAMES}
        yield Card(stack, keys)
