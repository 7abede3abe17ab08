"""A virtual CAC card in vsmartcard's virtual reader: libcacard answers the APDUs pcscd's vpcd driver sends.

Run as ``python -m tests.cards.vcard --db DIR --port PORT NICK1 NICK2 NICK3``: libcacard emulates a CAC
whose three certificates (and their keys) are the NSS database's certificates with those nicknames; the
card's PIN is the database's password. The process connects to vpcd on 127.0.0.1:PORT (the card is
inserted), prints ``inserted``, and answers until vpcd hangs up or the process is stopped (the card is
pulled out: stopping this process is how the tests remove the card mid-operation).

vpcd's protocol (vsmartcard's ``vpcd.c``): every message is a 2-byte big-endian length and that many
bytes. A 1-byte message is a command: 0 power off, 1 power on, 2 reset (none is answered), 4 "send the
ATR" (answered with the ATR). Anything longer is a command APDU, answered with the response APDU. vpcd
tells pcscd the card speaks T=1, so every answer reaches OpenSC as the card gave it; ``61 xx`` (more
data: libcacard buffers an answer longer than the command's Le) is resolved by OpenSC with GET RESPONSE,
as with any card.

What it takes to make the card behave the same on every run (measured with 20 listings in a row):

* Power on and reset really reset the emulated card (``vreader_power_on`` after ``vreader_power_off``):
  each PC/SC connection then starts with no applet selected and nobody logged in. A bridge that ignores
  the power commands lists 0 of the 3 keys on every run.
* Each message is read whole (TCP may split a length prefix and its APDU): libcacard must never see a
  truncated APDU.
* Each read is acknowledged at once (``TCP_QUICKACK``): vpcd sends power-on and GET ATR as two small
  writes, and the second waited for the first's delayed ACK; a listing took 2.4 s instead of 0.05 s.
"""

from __future__ import annotations

import argparse
import ctypes
import socket
import sys
from collections.abc import Sequence

LIBCACARD = "libcacard.so.0"

VPCD_POWER_OFF = 0
VPCD_POWER_ON = 1
VPCD_RESET = 2
VPCD_GET_ATR = 4

VREADER_OK = 0
VCARD_EMUL_OK = 0

MAX_RESPONSE = 65536 + 2
MAX_ATR = 40


class CardError(Exception):
    """libcacard could not make the virtual card (the message says which step)."""


def _load() -> ctypes.CDLL:
    lib = ctypes.CDLL(LIBCACARD)
    lib.vcard_emul_options.argtypes = [ctypes.c_char_p]
    lib.vcard_emul_options.restype = ctypes.c_void_p
    lib.vcard_emul_init.argtypes = [ctypes.c_void_p]
    lib.vcard_emul_init.restype = ctypes.c_int
    lib.vreader_get_reader_list.argtypes = []
    lib.vreader_get_reader_list.restype = ctypes.c_void_p
    lib.vreader_list_get_first.argtypes = [ctypes.c_void_p]
    lib.vreader_list_get_first.restype = ctypes.c_void_p
    lib.vreader_list_get_reader.argtypes = [ctypes.c_void_p]
    lib.vreader_list_get_reader.restype = ctypes.c_void_p
    lib.vreader_list_delete.argtypes = [ctypes.c_void_p]
    lib.vreader_list_delete.restype = None
    lib.vreader_card_is_present.argtypes = [ctypes.c_void_p]
    lib.vreader_card_is_present.restype = ctypes.c_int
    lib.vreader_power_on.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    lib.vreader_power_on.restype = ctypes.c_int
    lib.vreader_power_off.argtypes = [ctypes.c_void_p]
    lib.vreader_power_off.restype = ctypes.c_int
    lib.vreader_xfr_bytes.argtypes = [
        ctypes.c_void_p,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.POINTER(ctypes.c_int),
    ]
    lib.vreader_xfr_bytes.restype = ctypes.c_int
    lib.vcard_emul_get_atr.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int)]
    lib.vcard_emul_get_atr.restype = None
    return lib


class VirtualCAC:
    """libcacard's soft CAC over an NSS database: three certificates by nickname, keys found by them."""

    def __init__(self, db: str, nicknames: Sequence[str], reader: str = "cmc-agent-test") -> None:
        if len(nicknames) != 3:
            raise CardError("a CAC card holds exactly three certificates (give three nicknames)")
        self._lib = _load()
        spec = f'soft=(,{reader},CAC,,{",".join(nicknames)}) db="sql:{db}" use_hw=no'
        options = self._lib.vcard_emul_options(spec.encode())
        if not options:
            raise CardError(f"libcacard refused the options {spec!r}")
        if self._lib.vcard_emul_init(options) != VCARD_EMUL_OK:
            raise CardError(f"libcacard could not open the NSS database sql:{db}")
        readers = self._lib.vreader_get_reader_list()
        entry = self._lib.vreader_list_get_first(readers)
        self._reader = self._lib.vreader_list_get_reader(entry) if entry else None
        self._lib.vreader_list_delete(readers)
        if not self._reader or self._lib.vreader_card_is_present(self._reader) != VREADER_OK:
            raise CardError(f"no certificate with the nicknames {list(nicknames)} in sql:{db}")

    def atr(self) -> bytes:
        buffer = ctypes.create_string_buffer(MAX_ATR)
        length = ctypes.c_int(MAX_ATR)
        self._lib.vcard_emul_get_atr(None, buffer, ctypes.byref(length))
        return buffer.raw[: length.value]

    def power_off(self) -> None:
        self._lib.vreader_power_off(self._reader)

    def power_on(self) -> None:
        self._lib.vreader_power_off(self._reader)
        self._lib.vreader_power_on(self._reader, None, None)

    def transmit(self, apdu: bytes) -> bytes:
        """The card's answer to one command APDU."""
        buffer = ctypes.create_string_buffer(MAX_RESPONSE)
        length = ctypes.c_int(MAX_RESPONSE)
        status = self._lib.vreader_xfr_bytes(self._reader, apdu, len(apdu), buffer, ctypes.byref(length))
        if status != VREADER_OK:
            return b"\x6f\x00"  # "no precise diagnosis": the card is gone
        return buffer.raw[: length.value]


def _read_exactly(connection: socket.socket, size: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = connection.recv(size - len(chunks))
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        if not chunk:
            return None
        chunks += chunk
    return bytes(chunks)


def serve(card: VirtualCAC, port: int, host: str = "127.0.0.1") -> None:
    """Answer vpcd until it hangs up."""
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.settimeout(None)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        print("inserted", flush=True)
        while True:
            header = _read_exactly(connection, 2)
            if header is None:
                return
            message = _read_exactly(connection, int.from_bytes(header, "big"))
            if message is None:
                return
            answer: bytes | None = None
            if not message:
                continue
            if len(message) == 1:
                command = message[0]
                if command == VPCD_POWER_OFF:
                    card.power_off()
                elif command in (VPCD_POWER_ON, VPCD_RESET):
                    card.power_on()
                elif command == VPCD_GET_ATR:
                    answer = card.atr()
            else:
                answer = card.transmit(message)
            if answer is not None:
                connection.sendall(len(answer).to_bytes(2, "big") + answer)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", required=True, help="NSS database directory holding the card's keys")
    parser.add_argument("--port", type=int, required=True, help="vpcd's port on 127.0.0.1")
    parser.add_argument("nicknames", nargs=3, help="the three certificates' nicknames")
    args = parser.parse_args(argv)
    try:
        card = VirtualCAC(args.db, args.nicknames)
    except CardError as error:
        print(f"vcard: {error}", file=sys.stderr)
        return 1
    try:
        serve(card, args.port)
    except OSError as error:
        print(f"vcard: vpcd on port {args.port}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
