"""``HttpClient CFG``: post a CMC request to the CA, from Dogtag's HttpClient config file.

The file is ``java.util.Properties`` syntax (:func:`agent.compat.configfile.parse_properties`) with
Dogtag's keys: ``host``, ``port``, ``secure``, ``dbdir``, ``password``, ``tokenname``, ``clientmode``,
``nickname``, ``servlet``, ``input``, ``output`` (``numHeaderLines`` is accepted and ignored). The
request goes through :class:`agent.transport.CmcClient`; with ``clientmode=true`` the TLS client key is
the key of the ``nickname`` certificate, used on its device (pkcs11-provider), exactly the key that
signed a CMCAuth request.

Deliberate differences from the Java tool:

* The server is always verified: its certificate must chain to a CA certificate the NSS database
  ``dbdir`` trusts for TLS (``certutil`` trust ``C,,``, as ``pki client-cert-import --ca-cert`` sets),
  or to one in the optional new key ``cacert=FILE``, and match ``host``. ``secure=false`` (plain HTTP)
  is refused: CMC requests carry shared secrets and the response must come from the CA.
* HTTP is spoken properly (``Content-Type: application/pkcs7-mime``, the body read by
  ``Content-Length``) instead of saving everything after the sixth line feed.
* Any failure exits with status 1 (the Java tool exits 0 whatever happens).
"""

from __future__ import annotations

import atexit
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from agent.compat.tool import EXIT_FAILED, CompatError, run_main

if TYPE_CHECKING:
    from agent.compat.dogtagdb import DogtagDevices
    from agent.transport import CmcResponseBytes
    from tokens.tls import DeviceTlsKey

TOOL = "HttpClient"
REQUIRED_KEYS = ("host", "port", "servlet", "input", "output")
USAGE = """
Usage: HttpClient <configuration file>
For example, HttpClient HttpClient.cfg

The configuration file should look like as follows:

#host: host name for the http server
host=host.example.com

#port: port number
port=8443

#secure: must be true: the CA is always reached over verified TLS
secure=true

#input: full path for the enrollment request, the content must be in binary format
input=~/cmcReqCRMFBin

#output: full path for the response in binary format
#output could be parsed by running CMCResponse
output=~/cmcResp

#dbdir: NSS database: its trusted CA certificates verify the server; it holds the client certificate
dbdir=/.dogtag/nssdb

#cacert: (cmc-agent) optional PEM file of CA certificates to trust in addition to dbdir's
#cacert=/path/ca.pem

#clientmode: true for client authentication, false for no client authentication
clientmode=false

#password: password for the token holding the client certificate's key (keep this file chmod 600)
password=

#tokenname: name of the token holding the client certificate (default is internal)
tokenname=internal

#nickname: nickname for client certificate
nickname=

#servlet: servlet name
servlet=/ca/ee/ca/profileSubmitCMCFull
"""


def _private_directory() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="httpclient-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def _url(host: str, port: str, servlet: str) -> str:
    try:
        number = int(port.strip())
    except ValueError:
        raise CompatError(f"port={port}: not a port number") from None
    name = host.strip()
    if ":" in name and not name.startswith("["):
        name = f"[{name}]"
    path = servlet.strip()
    if not path.startswith("/"):
        path = "/" + path
    return f"https://{name}:{number}{path}"


def _send(values: dict[str, str]) -> int:
    from agent.compat.dogtagdb import DogtagDevices
    from agent.compat.trust import trust_anchors
    from agent.transport import CmcClient
    from tokens.pins import PinSource

    if (values.get("secure") or "").strip().lower() != "true":
        raise CompatError(
            "secure=true is required: cmc-agent sends CMC requests only over TLS with a verified server "
            "(requests carry shared secrets; the answer must come from the CA)"
        )
    url = _url(values["host"], values["port"], values["servlet"])
    input_path = values["input"]
    try:
        request = Path(input_path).read_bytes()
    except OSError as exc:
        raise CompatError(f"cannot read input={input_path}: {exc.strerror}") from None
    from agent.cli.common import check_output_location

    check_output_location(values["output"])  # the CA may act on the request: its answer must not be lost
    print("")
    print(f"Total number of bytes read = {len(request)}")

    dbdir = values.get("dbdir") or None
    anchors = trust_anchors(dbdir, values.get("cacert") or None, for_tls=True)
    if not anchors.certificates:
        raise CompatError(
            f"no CA certificate to verify the server: {dbdir or 'dbdir='} trusts none for TLS; import it "
            "with 'cmc-agent client-cert-import --ca-cert ca.pem -d DBDIR' (trust CT,C,C) or set cacert=FILE"
        )
    private = _private_directory()
    ca_file = private / "trusted-cas.pem"
    ca_file.write_text(anchors.pem())

    devices = DogtagDevices(
        dbdir=Path(dbdir or "."),
        tokenname=values.get("tokenname") or None,
        pins=PinSource(value=values.get("password") or None),
        login_source="password= in the config file",
    )
    tls_key, client_cert_file = _client_authentication(values, devices, private)
    print("writing to socket")
    with CmcClient.open(
        str(ca_file),
        client_key=tls_key,
        client_cert=str(client_cert_file) if client_cert_file else None,
    ) as client:
        answer = client.post(url, request)
    print("handshake happened")
    _report(values["output"], answer)
    return 0


def _client_authentication(
    values: dict[str, str], devices: DogtagDevices, directory: Path
) -> tuple[DeviceTlsKey | None, Path | None]:
    """With ``clientmode=true``: the ``nickname`` certificate's key on its device, and a file holding
    the certificate and the issuers the database has (sent in the handshake)."""
    from agent.cmc.pem import to_pem

    if (values.get("clientmode") or "").strip().lower() != "true":
        return None, None
    nickname = values.get("nickname")
    if not nickname:
        raise CompatError("clientmode=true needs nickname= (the client certificate)")
    listing = devices.certificate(nickname)
    tls_key = devices.tls_client_key(listing)
    print(f"after SSLSocket created, thread token is {devices.token().label}")
    print("client cert is not null")
    chain = [listing.certificate, *devices.chain_above(listing.certificate)]
    certificate_file = directory / "client-cert.pem"
    certificate_file.write_text("".join(to_pem(c.dump(), "CERTIFICATE") for c in chain))
    return tls_key, certificate_file


def _report(output: str, answer: CmcResponseBytes) -> None:
    """Save the response and print what Dogtag's HttpClient prints about it: the headers as received."""
    from agent.cli.common import write_output
    from agent.compat.b64 import mime_base64

    body = answer.body
    headers = "\r\n".join((answer.status_line, *(f"{name}: {value}" for name, value in answer.headers)))
    print(f"\n##Response Headers begin##\n{headers}\n##end##\n")
    write_output(output, body)
    print(f"Total number of bytes read = {len(body)}")
    print(mime_base64(body))
    print("")
    print(f"The response in binary format is stored in {output}")
    print("")


def _body(argv: list[str]) -> int:
    from agent.compat.configfile import parse_properties, read_config_file, warn_if_password_exposed

    if len(argv) != 1 or argv[0] in ("--help", "-help"):
        print(USAGE)
        return 0 if argv and argv[0] in ("--help", "-help") else EXIT_FAILED
    path = argv[0]
    values = parse_properties(read_config_file(path, TOOL))
    warn_if_password_exposed(path, values, TOOL)
    missing = [key for key in REQUIRED_KEYS if not values.get(key)]
    if missing:
        print(USAGE)
        raise CompatError(f"{path} lacks {', '.join(k + '=' for k in missing)}")
    return _send(values)


def main(argv: Sequence[str] | None = None) -> int:
    return run_main(_body, argv)


if __name__ == "__main__":
    sys.exit(main())
