"""Dogtag's base-64 layout: 76-character lines, each ended by CRLF; PEM armour lines ended by LF."""

from __future__ import annotations

import base64

import pytest

from agent.compat.b64 import dogtag_pem, mime_base64, single_line_base64


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 114, 1000])
def test_mime_lines_are_76_characters_with_crlf(size: int) -> None:
    data = bytes(range(256)) * 4
    text = mime_base64(data[:size])
    if size == 0:
        assert text == ""
        return
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.split("\r\n")[:-1]
    assert all(len(line) == 76 for line in lines[:-1])
    assert 0 < len(lines[-1]) <= 76
    assert base64.b64decode("".join(lines)) == data[:size]


def test_57_bytes_fill_exactly_one_line() -> None:
    assert mime_base64(b"\x00" * 57) == "A" * 76 + "\r\n"


def test_single_line_has_no_line_break() -> None:
    assert single_line_base64(b"\xff" * 100) == base64.b64encode(b"\xff" * 100).decode()


def test_pem_armour_ends_with_lf_and_body_with_crlf() -> None:
    text = dogtag_pem(b"\x30\x03\x02\x01\x01", "CERTIFICATE REQUEST")
    assert text == "-----BEGIN CERTIFICATE REQUEST-----\nMAMCAQE=\r\n-----END CERTIFICATE REQUEST-----\n"
