"""HTTP facts of §1.1: HttpClient's raw HTTP/1.0 request, the HTML error path, EST headers, plain HTTP,
keep-alive, and 8 clients at once with nothing lost or duplicated in the database."""

from __future__ import annotations

import socket
import ssl
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.localca import independent as ind
from tests.localca.conftest import FULL, Client, LocalCA, issued_certificates


def tls_socket(local_ca: LocalCA, client: Client | None) -> ssl.SSLSocket:
    context = ssl.create_default_context(cafile=str(local_ca.ca_pem))
    if client is not None:
        context.load_cert_chain(str(client.cert_path), str(client.key_path))
    raw = socket.create_connection(("127.0.0.1", local_ca.server.port), timeout=30)
    return context.wrap_socket(raw, server_hostname="127.0.0.1")


def read_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def httpclient_body(reply: bytes) -> bytes:
    """Dogtag HttpClient's parsing: everything after the 6th LF byte is the body."""
    count = 0
    for index, byte in enumerate(reply):
        if byte == 0x0A:
            count += 1
            if count == 6:
                return reply[index + 1 :]
    raise AssertionError("fewer than 6 LF in the reply")


def test_dogtag_httpclient_request(local_ca: LocalCA, agent: Client) -> None:
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=via httpclient"))])
    body = local_ca.agent_signed(agent, data)
    with tls_socket(local_ca, agent) as sock:
        sock.sendall(f"POST {FULL} HTTP/1.0\nContent-length: {len(body)}\n\n".encode("ascii") + body)
        reply = read_all(sock)
    head, _, payload = reply.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0].startswith(b"HTTP/1.1 200")
    assert [line.split(b":")[0] for line in lines[1:]] == [
        b"Content-Type",
        b"Content-Length",
        b"Date",
        b"Connection",
    ]
    assert b"Connection: close" in lines
    assert httpclient_body(reply) == payload
    response = ind.read_response(payload, local_ca.ca_certificate)
    assert response.statuses[0].status == 0


def test_missing_content_length_gives_the_html_page(local_ca: LocalCA, agent: Client) -> None:
    with tls_socket(local_ca, agent) as sock:
        sock.sendall(f"POST {FULL} HTTP/1.0\n\n".encode("ascii"))
        reply = read_all(sock)
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Content-Type: text/html" in head
    assert b"The Certificate System has encountered an unrecoverable error." in payload


def test_garbage_body_never_gives_a_traceback(local_ca: LocalCA, agent: Client) -> None:
    for body in (b"\x30\x80garbage", b"-----BEGIN PKCS7-----\nAAAA\n-----END PKCS7-----\n", b"\x00" * 100):
        answer = local_ca.post(FULL, body, agent)
        assert answer.headers["Content-Type"] == "application/pkcs7-mime"
        response = ind.read_response(answer.content, local_ca.ca_certificate)
        assert (
            response.statuses[0].status == 2 and response.statuses[0].status_string == "Invalid Credential."
        )
        assert b"Traceback" not in answer.content


def test_est_header_and_plain_http(local_ca: LocalCA, agent: Client) -> None:
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=est"))])
    answer = local_ca.post(
        FULL, local_ca.agent_signed(agent, data), agent, headers={"pki-est-request": "true"}
    )
    assert answer.headers["pki-cmc-status"] == "0"

    session = requests.Session()
    session.trust_env = False
    plain = session.post(f"http://127.0.0.1:{local_ca.server.http_port}{FULL}?profileId=caNope", data=b"x")
    assert plain.status_code == 200 and plain.headers["Content-Type"] == "application/pkcs7-mime"
    status = ind.read_response(plain.content, local_ca.ca_certificate).statuses[0]
    assert status.status_string == "Profile caNope Not Found"


def test_keep_alive(local_ca: LocalCA, agent: Client) -> None:
    data = ind.pki_data([], [ind.tagged_pkcs10(1, ind.pkcs10(local_ca.new_rsa_key(), "CN=keep alive"))])
    body = local_ca.agent_signed(agent, data)
    with tls_socket(local_ca, agent) as sock:
        request = (
            f"POST {FULL} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/pkcs7-mime\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode("ascii") + body
        for _ in range(2):
            sock.sendall(request)
            reader = sock.makefile("rb")
            status_line = reader.readline()
            headers = {}
            while (line := reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            payload = reader.read(int(headers["content-length"]))
            assert status_line.startswith(b"HTTP/1.1 200") and headers["connection"] == "keep-alive"
            assert ind.read_response(payload, local_ca.ca_certificate).statuses[0].status == 0


def test_eight_concurrent_clients(local_ca: LocalCA, agent: Client) -> None:
    per_client = 4
    keys = [local_ca.new_rsa_key() for _ in range(8 * per_client)]
    before_requests = len(local_ca.ca.store.list_requests())
    before_certificates = {record.serial for record in local_ca.ca.store.list_certificates()}
    barrier = threading.Barrier(8)

    def client(index: int) -> list[int]:
        barrier.wait()
        serials = []
        for number in range(per_client):
            key = keys[index * per_client + number]
            data = ind.pki_data(
                [], [ind.tagged_pkcs10(1, ind.pkcs10(key, f"CN=concurrent {index}-{number}"))]
            )
            response = local_ca.cmc(FULL, local_ca.agent_signed(agent, data), agent)
            assert response.statuses[0].status == 0
            serials.append(issued_certificates(local_ca, response)[0].serial_number)
        return serials

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(client, range(8)))
    serials = [serial for batch in results for serial in batch]
    assert len(serials) == len(set(serials)) == 8 * per_client

    new_records = {record.serial: record for record in local_ca.ca.store.list_certificates()}
    created = set(new_records) - before_certificates
    assert created == set(serials)
    subjects = sorted(new_records[serial].subject for serial in created)
    assert subjects == sorted(f"CN=concurrent {i}-{n}" for i in range(8) for n in range(per_client))
    requests_after = local_ca.ca.store.list_requests()
    assert len(requests_after) == before_requests + 8 * per_client
    assert sorted(r.cert_serial for r in requests_after if r.cert_serial in created) == sorted(serials)


def test_an_undrained_body_closes_the_connection(local_ca: LocalCA) -> None:
    """A body the server will not read (chunked, or too long) must not be parsed as the next request."""
    smuggled = b"GET /ca/ee/ca/getCACert HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    for framing in (b"Transfer-Encoding: chunked\r\n", b"Content-Length: 999999999\r\n"):
        with tls_socket(local_ca, None) as sock:
            sock.sendall(b"POST /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\n" + framing + b"\r\n" + smuggled)
            reply = read_all(sock)
        assert reply.startswith(b"HTTP/1.1 404")
        assert reply.count(b"HTTP/1.1 ") == 1, reply  # the smuggled request got no answer
        assert b"Connection: close" in reply
