"""Both config syntaxes, edge cases included: users' files must mean what they meant to the Java tools."""

from __future__ import annotations

import pytest

from agent.compat.configfile import (
    ConfigSyntaxError,
    java_trim,
    parse_cmcrequest_config,
    parse_properties,
)

# --- CMCRequest's own line parser ---------------------------------------------------------------------


def test_cmcrequest_reads_the_walkthrough_file() -> None:
    text = (
        "# NSS database directory where CA agent certificate is stored\n"
        "dbdir=/home/agent_username/.dogtag/nssdb/\n"
        "\n"
        "# NSS database password\n"
        "password=password\n"
        "nickname=ca_agent\n"
        "format=pkcs10\n"
        "numRequests=1\n"
        "input=/home/agent_username/.dogtag/nssdb/request.csr\n"
    )
    assert parse_cmcrequest_config(text) == {
        "dbdir": "/home/agent_username/.dogtag/nssdb/",
        "password": "password",
        "nickname": "ca_agent",
        "format": "pkcs10",
        "numRequests": "1",
        "input": "/home/agent_username/.dogtag/nssdb/request.csr",
    }


def test_cmcrequest_name_before_spaced_equals_keeps_its_trailing_space() -> None:
    """``name = value``: the name is ``"name "``, which no code reads; the value keeps its leading space."""
    values = parse_cmcrequest_config("nickname = ca_agent\n")
    assert values == {"nickname ": " ca_agent"}
    assert "nickname" not in values


def test_cmcrequest_empty_value_is_the_empty_string() -> None:
    assert parse_cmcrequest_config("revRequest.sharedSecret=\n") == {"revRequest.sharedSecret": ""}


def test_cmcrequest_value_is_everything_after_the_first_equals() -> None:
    assert parse_cmcrequest_config("getCert.issuer=CN=CA,O=Example\n") == {
        "getCert.issuer": "CN=CA,O=Example"
    }


def test_cmcrequest_lines_are_trimmed_like_java() -> None:
    """``String.trim`` drops every character up to U+0020 (tabs, CR, control characters) at both ends."""
    assert parse_cmcrequest_config("\t password=secret \r\n\x01format=crmf\x02\n") == {
        "password": "secret",
        "format": "crmf",
    }
    assert java_trim("\x00 a b \x1f") == "a b"


def test_cmcrequest_has_no_colon_separator_escapes_or_bang_comments() -> None:
    values = parse_cmcrequest_config("witness.sharedSecret=a\\tb\n!bang=comment?\nkey:value=x\n")
    assert values == {"witness.sharedSecret": "a\\tb", "!bang": "comment?", "key:value": "x"}


def test_cmcrequest_skips_hash_comments_and_blank_lines_and_later_lines_win() -> None:
    assert parse_cmcrequest_config("#nickname=x\n   \nformat=pkcs10\nformat=crmf\n") == {"format": "crmf"}


def test_cmcrequest_line_without_equals_is_the_java_error() -> None:
    with pytest.raises(ConfigSyntaxError, match=r"^Error in configuration file: numRequests 1$"):
        parse_cmcrequest_config("format=pkcs10\n  numRequests 1  \n")


def test_cmcrequest_accepts_cr_only_line_ends() -> None:
    assert parse_cmcrequest_config("format=pkcs10\rnumRequests=1\r") == {
        "format": "pkcs10",
        "numRequests": "1",
    }


# --- java.util.Properties (HttpClient) ---------------------------------------------------------------


def test_properties_reads_the_walkthrough_file() -> None:
    text = (
        "#host: host name for the http server\n"
        "host=server.example.com\n"
        "#port: CA port number\n"
        "port=8443\n"
        "secure=true\n"
        "servlet=/ca/ee/ca/profileSubmitCMCFull?profileId=caFullCMCUserSignedCert\n"
    )
    assert parse_properties(text) == {
        "host": "server.example.com",
        "port": "8443",
        "secure": "true",
        "servlet": "/ca/ee/ca/profileSubmitCMCFull?profileId=caFullCMCUserSignedCert",
    }


@pytest.mark.parametrize(
    "line",
    ["port=8443", "port = 8443", "port:8443", "port : 8443", "port 8443", "port\t8443", "  port=8443"],
)
def test_properties_separators_and_surrounding_whitespace(line: str) -> None:
    assert parse_properties(line + "\n") == {"port": "8443"}


def test_properties_value_keeps_trailing_whitespace_and_later_separators() -> None:
    assert parse_properties("password=pass word  \nservlet=/a?b=c:d\n") == {
        "password": "pass word  ",
        "servlet": "/a?b=c:d",
    }


def test_properties_bang_and_hash_comments_only_at_line_start() -> None:
    assert parse_properties("! comment\n  # comment\nnickname=agent#1\n") == {"nickname": "agent#1"}


def test_properties_escapes() -> None:
    text = "pass\\ word=a\\tb\\nc\\\\d\\u00e9\\q\nkey\\=with\\:seps=v\n"
    assert parse_properties(text) == {"pass word": "a\tb\nc\\d\u00e9q", "key=with:seps": "v"}


def test_properties_continuation_lines() -> None:
    text = "servlet=/ca/ee/ca/\\\n     profileSubmitCMCFull\nnext=1\n"
    assert parse_properties(text) == {"servlet": "/ca/ee/ca/profileSubmitCMCFull", "next": "1"}


def test_properties_even_backslashes_do_not_continue_and_comments_never_do() -> None:
    text = "dir=C:\\\\\n# comment \\\nport=1\n"
    assert parse_properties(text) == {"dir": "C:\\", "port": "1"}


def test_properties_key_without_value_and_empty_value() -> None:
    assert parse_properties("clientmode\nnickname=\n") == {"clientmode": "", "nickname": ""}


def test_properties_malformed_unicode_escape_is_an_error() -> None:
    with pytest.raises(ConfigSyntaxError, match="Malformed"):
        parse_properties("host=\\u12\n")
