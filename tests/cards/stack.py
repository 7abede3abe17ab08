"""The smart-card stack a USB card uses, from the reader up, with a virtual card at the bottom:

    tests.cards.vcard (libcacard, a CAC) --TCP--> vpcd (pcscd's reader driver) --> pcscd
        --> libpcsclite --> OpenSC's opensc-pkcs11.so --> cmc-agent / pkcs11-tool / openssl / PyKCS11

Every test session gets its own: pcscd runs in the foreground on its own socket (handed over as systemd's
socket activation does, so a system pcscd, or another session's, is never touched) and its own reader
configuration (vpcd on free ports). Clients find that socket through ``PCSCLITE_CSOCK_NAME``, which
:attr:`CardStack.env` carries: only the card tests' commands see the card.

The card's keys and certificates live in an NSS database (libcacard's soft card), provisioned before the
card is inserted: the emulated CAC is read-only, as CAC cards are to their holders.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OPENSC_MODULE = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so"
VPCD_DRIVER = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so"
VPCD_SLOTS = 2  # vpcd opens one port per slot: CHANNELID and CHANNELID+1
NICKNAMES = ("card-id", "card-sign", "card-enc")
STARTUP_SECONDS = 15


def missing_parts() -> list[str]:
    """What of the stack is not installed here (empty when the card tests can run)."""
    missing = []
    if shutil.which("pcscd") is None:
        missing.append("pcscd (Debian package pcscd)")
    if not Path(VPCD_DRIVER).exists():
        missing.append(f"{VPCD_DRIVER} (vsmartcard-vpcd)")
    if ctypes.util.find_library("cacard") is None:
        missing.append("libcacard.so.0 (libcacard0)")
    if not Path(OPENSC_MODULE).exists():
        missing.append(f"{OPENSC_MODULE} (opensc)")
    for tool in ("certutil", "pkcs11-tool"):
        if shutil.which(tool) is None:
            missing.append(tool)
    return missing


def _free_port_block(count: int) -> int:
    """A base port with ``count`` consecutive ports free on every address (vpcd binds 0.0.0.0)."""
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20000, 60000 - count)
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
                    probe.bind(("0.0.0.0", port))  # noqa: S104 - what vpcd binds, so what must be free
            except OSError:
                continue
        return base
    raise RuntimeError("no block of free ports for vpcd")


@dataclass
class CardStack:
    """pcscd with a vpcd reader in ``directory``, and the virtual card that can be inserted into it."""

    directory: Path
    card_db: Path
    pin: str
    pin_file: Path
    port: int = 0
    _pcscd: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _card: subprocess.Popen[str] | None = field(default=None, repr=False)

    @property
    def socket_path(self) -> Path:
        return self.directory / "pcscd.comm"

    @property
    def env(self) -> dict[str, str]:
        """The environment a client needs to see this session's reader (and nothing else's)."""
        return {**os.environ, "PCSCLITE_CSOCK_NAME": str(self.socket_path)}

    @property
    def module(self) -> str:
        return OPENSC_MODULE

    @property
    def token_uri(self) -> str:
        """The card by what is stable about it: a CAC's label and serial change from card to card (with
        libcacard: from run to run), its manufacturer and model do not."""
        return (
            "pkcs11:manufacturer=Common%20Access%20Card;model=PKCS%2315%20emulated"
            f"?module-path={OPENSC_MODULE}"
        )

    def key_uri(self, key_id: bytes) -> str:
        return (
            "pkcs11:manufacturer=Common%20Access%20Card;model=PKCS%2315%20emulated;"
            f"id={''.join(f'%{b:02x}' for b in key_id)};type=private?module-path={OPENSC_MODULE}"
        )

    # --- pcscd --------------------------------------------------------------------------------------

    def start_pcscd(self) -> None:
        """pcscd in the foreground, on its own socket and with only this session's vpcd reader."""
        self.port = _free_port_block(VPCD_SLOTS)
        config = self.directory / "reader.conf.d"
        config.mkdir(exist_ok=True)
        (config / "vpcd").write_text(
            'FRIENDLYNAME "Virtual PCD"\n'
            f"DEVICENAME   /dev/null:{self.port}\n"
            f"LIBPATH      {VPCD_DRIVER}\n"
            f"CHANNELID    {self.port}\n"
        )
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        listener.bind(str(self.socket_path))
        listener.listen(64)
        log = (self.directory / "pcscd.log").open("wb")
        fd = listener.fileno()
        # pcscd takes a listening socket the way systemd hands it over: fd 3, LISTEN_FDS=1 and LISTEN_PID
        # its own pid. A small Python step moves the socket to fd 3 and execs pcscd in its own place.
        handover = (
            "import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ['LISTEN_PID'] = str(os.getpid()); "
            "os.environ['LISTEN_FDS'] = '1'; os.execvp('pcscd', sys.argv[2:])"
        )
        self._pcscd = subprocess.Popen(
            [sys.executable, "-c", handover, str(fd), "pcscd", "--foreground", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=(fd,),
        )
        listener.close()
        log.close()
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self._vpcd_listening():
            if self._pcscd.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"pcscd did not start: {self.log_tail()}")
            time.sleep(0.05)

    def _vpcd_listening(self) -> bool:
        """Whether vpcd listens on its port yet (read from /proc: a probe connection would be a card)."""
        wanted = f":{self.port:04X} "
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with contextlib.suppress(OSError), open(table) as lines:
                for line in lines:
                    fields = line.split()
                    if len(fields) > 3 and (fields[1] + " ").endswith(wanted) and fields[3] == "0A":
                        return True
        return False

    def log_tail(self) -> str:
        path = self.directory / "pcscd.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        self.remove_card()
        if self._pcscd is not None:
            self._pcscd.send_signal(signal.SIGTERM)
            try:
                self._pcscd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._pcscd.kill()
                self._pcscd.wait()
            self._pcscd = None

    # --- the card -----------------------------------------------------------------------------------

    def insert_card(self) -> None:
        """Start the virtual card and wait until OpenSC sees it (bounded)."""
        if self._card is not None:
            return
        self._card = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.cards.vcard",
                "--db",
                str(self.card_db),
                "--port",
                str(self.port),
                *NICKNAMES,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=(self.directory / "vcard.log").open("ab"),
            text=True,
        )
        assert self._card.stdout is not None
        line = self._card.stdout.readline().strip()
        if line != "inserted":
            self._card.wait(timeout=10)
            log = (self.directory / "vcard.log").read_text(errors="replace")
            self._card = None
            raise RuntimeError(f"the virtual card did not start: {log[-1000:]}")
        deadline = time.monotonic() + STARTUP_SECONDS
        while not self.card_visible():
            if time.monotonic() > deadline:
                raise RuntimeError(f"pcscd never saw the card: {self.log_tail()}")
            time.sleep(0.1)

    def remove_card(self) -> None:
        """Pull the card out: the bridge stops, vpcd sees its connection close."""
        if self._card is None:
            return
        self._card.send_signal(signal.SIGTERM)
        try:
            self._card.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._card.kill()
            self._card.wait()
        if self._card.stdout is not None:
            self._card.stdout.close()
        self._card = None

    def card_visible(self) -> bool:
        listing = subprocess.run(
            ["pkcs11-tool", "--module", OPENSC_MODULE, "--list-token-slots"],
            capture_output=True,
            text=True,
            env=self.env,
            timeout=30,
            check=False,
        )
        return "Common Access Card" in listing.stdout


@contextlib.contextmanager
def running_stack(directory: Path, card_db: Path, pin: str, pin_file: Path) -> Iterator[CardStack]:
    stack = CardStack(directory, card_db, pin, pin_file)
    try:
        stack.start_pcscd()
        stack.insert_card()
        yield stack
    finally:
        stack.stop()
