"""TLS scenarios that each need a process of their own: ``python -m tests.tokens.tls_scenario JSON``.

pkcs11-provider serves one PKCS#11 module per process and stays loaded until exit, so the tests run every
scenario here, in a fresh interpreter, and read one JSON object from its last line of output. The process
must also *exit* cleanly (a provider or module torn down in the wrong order crashes at exit), which the
tests check through the exit status.
"""

from __future__ import annotations

import json
import os
import re
import socket
import ssl
import stat
import sys
import threading
from collections.abc import Callable
from typing import Any

from tokens import tls

Params = dict[str, Any]


def _key(params: Params) -> tls.DeviceTlsKey:
    return tls.DeviceTlsKey(
        module_path=params["module"],
        key_uri=params["uri"],
        pin=params.get("pin"),
        module_init_args=params.get("init_args"),
    )


def _status_page(page: str) -> dict[str, str | None]:
    """What s_server's -www page says about the connection: protocol and the client certificate subject."""
    protocol = re.search(r"Protocol\s*:\s*(\S+)", page)
    client = re.search(r"Client certificate.*?Subject:\s*([^\n]+)", page, re.S)
    return {
        "protocol": protocol.group(1) if protocol else None,
        "client_subject": client.group(1).strip() if client else None,
    }


def _private_dir_state() -> dict[str, Any]:
    path = tls._PRIVATE._path
    if path is None:
        return {"path": None}
    return {
        "path": path,
        "mode": stat.S_IMODE(os.stat(path).st_mode),
        "files": sorted(os.listdir(path)),
    }


def connect(params: Params) -> dict[str, Any]:
    """Every key with every TLS version through requests, one raw handshake per key, refused shortcuts."""
    results = []
    for key_params in params["keys"]:
        key = _key({**params, **key_params})
        for version_name in params["versions"]:
            version = ssl.TLSVersion[version_name]
            session = tls.requests_session(
                key, key_params["cert"], params["ca"], minimum_version=version, maximum_version=version
            )
            with session:
                response = session.get(params["url"], timeout=20)
            results.append(
                {"uri": key.key_uri, "version": version_name, "status": response.status_code}
                | _status_page(response.text)
            )
        context = tls.client_ssl_context(key, key_params["cert"], params["ca"])
        host, port = params["url"].split("//")[1].split("/")[0].rsplit(":", 1)
        with (
            socket.create_connection((host, int(port))) as raw,
            context.wrap_socket(raw, server_hostname=host) as s,
        ):
            results.append({"uri": key.key_uri, "raw_handshake": s.version()})
    threaded = _handshakes_from_threads(context, params["url"], threads=4, each=10)
    refused = None
    try:
        tls.session_for_context(context).get(params["url"], verify=False)
    except tls.TlsError as exc:
        refused = str(exc)
    cleartext = None
    try:
        tls.session_for_context(context).get(params["url"].replace("https://", "http://"))
    except tls.TlsError as exc:
        cleartext = str(exc)
    return {
        "results": results,
        "private_dir": _private_dir_state(),
        "verify_false": refused,
        "cleartext": cleartext,
        "threaded": threaded,
    }


def _handshakes_from_threads(context: ssl.SSLContext, url: str, threads: int, each: int) -> dict[str, Any]:
    """Several threads signing through one context at once (the module runs with OS locking)."""
    host, port = url.split("//")[1].split("/")[0].rsplit(":", 1)
    successes: list[int] = []
    failures: list[str] = []

    def work() -> None:
        for _ in range(each):
            try:
                with socket.create_connection((host, int(port))) as raw:
                    with context.wrap_socket(raw, server_hostname=host) as tls_socket:
                        tls_socket.sendall(b"GET / HTTP/1.0\r\n\r\n")
                        if tls_socket.recv(16).startswith(b"HTTP/1.0 200"):
                            successes.append(1)
            except Exception as exc:
                failures.append(repr(exc))

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return {"ok": len(successes), "failures": failures[:3]}


def error(params: Params) -> dict[str, Any]:
    """Build a session and make one request; report the exception, if any."""
    try:
        session = tls.requests_session(
            _key(params), params["cert"], params["ca"], provider_path=params.get("provider_path")
        )
        with session:
            status = session.get(params["url"], timeout=20).status_code
    except Exception as exc:
        return {
            "error": type(exc).__name__,
            "classes": [cls.__name__ for cls in type(exc).__mro__],
            "user_facing": getattr(exc, "user_facing", False),
            "message": str(exc),
            "private_dir": _private_dir_state(),
        }
    return {"error": None, "status": status}


def conflict(params: Params) -> dict[str, Any]:
    """One module for TLS keys per process: the same again is fine, another module or PIN is refused."""
    first, second = params["first"], params["second"]
    outcome: dict[str, Any] = {}
    tls.client_ssl_context(_key(first), first["cert"], params["ca"])
    tls.client_ssl_context(_key(first), first["cert"], params["ca"])  # idempotent
    outcome["again"] = "ok"
    for name, key_params in (("other_module", second), ("other_pin", {**first, "pin": "not-the-pin"})):
        try:
            tls.client_ssl_context(_key(key_params), key_params["cert"], params["ca"])
            outcome[name] = None
        except tls.TlsError as exc:
            outcome[name] = {"error": type(exc).__name__, "message": str(exc)}
    with tls.requests_session(_key(first), first["cert"], params["ca"]) as session:
        outcome["still_works"] = session.get(params["url"], timeout=20).status_code
    return outcome


def _sign_with_python_pkcs11(lib: Any, params: Params, *, with_pin: bool) -> dict[str, Any]:
    import pkcs11
    from pkcs11 import Attribute, Mechanism, ObjectClass

    token = lib.get_token(token_label=params["token_label"])
    note = None
    if with_pin:
        try:
            session = token.open(user_pin=params["pin"])
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            note = "UserAlreadyLoggedIn"  # the provider's login belongs to the whole process
            session = token.open()
    else:
        session = token.open()
    with session:
        template = {Attribute.CLASS: ObjectClass.PRIVATE_KEY, Attribute.ID: bytes.fromhex(params["hex_id"])}
        keys = list(session.get_objects(template))
        token_keys = [k for k in keys if k[Attribute.TOKEN]]
        signature = token_keys[0].sign(b"signed by python-pkcs11", mechanism=Mechanism.SHA256_RSA_PKCS)
    return {"keys_with_id": len(keys), "signature_bytes": len(signature), "login_note": note}


def _tls_get(params: Params) -> int:
    with tls.requests_session(_key(params), params["cert"], params["ca"]) as session:
        return session.get(params["url"], timeout=20).status_code


def p11_then_tls(params: Params) -> dict[str, Any]:
    """python-pkcs11 initialises the module (C_Initialize(NULL)), signs, then the provider does TLS."""
    import pkcs11

    lib = pkcs11.lib(params["module"])
    before = _sign_with_python_pkcs11(lib, params, with_pin=True)
    status = _tls_get(params)
    after = _sign_with_python_pkcs11(lib, params, with_pin=True)
    return {"before": before, "tls": status, "after": after, "tls_again": _tls_get(params)}


def tls_then_p11(params: Params) -> dict[str, Any]:
    """TLS first (the module is initialised with OS locking); python-pkcs11 comes second."""
    import pkcs11

    from tokens.modules import ModuleSpec, load_module

    status = _tls_get(params)
    try:
        pkcs11.lib(params["module"])
        stock = "ok"
    except pkcs11.exceptions.PKCS11Error as exc:
        stock = f"{type(exc).__name__}: {exc}"

    module_path = params["module"]

    lib = load_module(ModuleSpec(module_path))  # tokens.modules: OS locking, "already initialised" is fine
    signed = _sign_with_python_pkcs11(lib, params, with_pin=True)
    return {"tls": status, "stock_lib": stock, "signed": signed, "tls_again": _tls_get(params)}


SCENARIOS: dict[str, Callable[[Params], dict[str, Any]]] = {
    "connect": connect,
    "error": error,
    "conflict": conflict,
    "p11_then_tls": p11_then_tls,
    "tls_then_p11": tls_then_p11,
}


def main() -> None:
    params = json.loads(sys.argv[1])
    result = SCENARIOS[params["scenario"]](params)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
