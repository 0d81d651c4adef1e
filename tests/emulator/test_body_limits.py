"""Request bodies at the service's limits: read whole however the bytes arrive, and refused
with the service's error when over the limit."""

from __future__ import annotations

import base64
import datetime as dt
import json
import select
import socket
import ssl
from urllib.parse import urlsplit

import pytest
from azure.core.exceptions import HttpResponseError
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12
from cryptography.x509.oid import NameOID

from emulator.testing import Emulator

MAX_SECRET_BYTES = 25 * 1024  # 25,600: the service's maximum secret value
CHUNK = 512


def _big_pfx(max_b64_chars: int) -> tuple[str, x509.Certificate]:
    """A PFX (base64, no password) grown with SAN entries to just under ``max_b64_chars``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=4096)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "big.emulator.test")])
    now = dt.datetime.now(dt.UTC)

    def build(count: int) -> tuple[str, x509.Certificate]:
        sans = [x509.DNSName(f"host-{i:05d}.big.emulator.test") for i in range(count)]
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .sign(key, hashes.SHA256())
        )
        pfx = pkcs12.serialize_key_and_certificates(None, key, cert, None, NoEncryption())
        return base64.b64encode(pfx).decode(), cert

    count = 1
    best = build(count)
    while True:
        grown = build(count * 2)
        if len(grown[0]) > max_b64_chars:
            break
        count, best = count * 2, grown
    step = count // 2
    while step:
        grown = build(count + step)
        if len(grown[0]) <= max_b64_chars:
            count, best = count + step, grown
        step //= 2
    return best


def _send_in_chunks(emu: Emulator, vault: str, method: str, path: str, body: bytes) -> dict:
    """Send one request over a raw TLS socket: the head and the first small chunk, a pause for
    the server to read what has arrived (cut short if it already answered), then the rest in
    small chunks. A server that reads the body with one partial read sees half of it."""
    url = urlsplit(emu.url(vault))
    context = ssl.create_default_context(cafile=str(emu.ca_cert))
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer emulator\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=30) as plain:
        plain.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with context.wrap_socket(plain, server_hostname=url.hostname) as tls:
            tls.sendall(head + body[:CHUNK])
            select.select([tls], [], [], 0.3)
            try:
                for start in range(CHUNK, len(body), CHUNK):
                    tls.sendall(body[start : start + CHUNK])
            except OSError:
                pass  # the server answered early and closed: read that answer below
            response = b""
            while chunk := tls.recv(65536):
                response += chunk
    status_line, _, rest = response.partition(b"\r\n")
    _, _, payload = rest.partition(b"\r\n\r\n")
    return {"status": int(status_line.split()[1]), "body": json.loads(payload)}


def test_a_maximum_size_secret_sent_in_small_tcp_chunks_is_read_whole(
    kv_emulator: Emulator, name: str
) -> None:
    value = "s" * MAX_SECRET_BYTES
    body = json.dumps({"value": value}).encode()
    answer = _send_in_chunks(kv_emulator, "east", "PUT", f"/secrets/{name}?api-version=7.5", body)
    assert answer["status"] == 200, answer["body"]
    with kv_emulator.secret_client("east") as client:
        assert client.get_secret(name).value == value


def test_a_certificate_import_sent_in_small_tcp_chunks_is_read_whole(
    kv_emulator: Emulator, name: str
) -> None:
    pfx, cert = _big_pfx(MAX_SECRET_BYTES)
    body = json.dumps({"value": pfx}).encode()
    path = f"/certificates/{name}/import?api-version=7.5"
    answer = _send_in_chunks(kv_emulator, "east", "POST", path, body)
    assert answer["status"] == 200, answer["body"]
    with kv_emulator.certificate_client("east") as client:
        imported = client.get_certificate(name)
    assert imported.properties.x509_thumbprint == cert.fingerprint(hashes.SHA1())


@pytest.mark.parametrize(
    "value",
    ["x" * MAX_SECRET_BYTES, "é" * (MAX_SECRET_BYTES // 2)],
    ids=["ascii", "two-byte-utf8"],
)
def test_a_secret_of_the_maximum_size_round_trips_through_the_sdk(
    kv_emulator: Emulator, name: str, value: str
) -> None:
    with kv_emulator.secret_client("east") as client:
        client.set_secret(name, value)
        assert client.get_secret(name).value == value


def test_a_certificate_import_of_the_maximum_size_works_through_the_sdk(
    kv_emulator: Emulator, name: str
) -> None:
    pfx, cert = _big_pfx(MAX_SECRET_BYTES)
    with kv_emulator.certificate_client("east") as client:
        imported = client.import_certificate(name, base64.b64decode(pfx))
    assert imported.properties.x509_thumbprint == cert.fingerprint(hashes.SHA1())
    assert x509.load_der_x509_certificate(bytes(imported.cer)) == cert


@pytest.mark.parametrize(
    "value",
    ["x" * (MAX_SECRET_BYTES + 1), "é" * (MAX_SECRET_BYTES // 2) + "x"],
    ids=["ascii", "two-byte-utf8"],
)
def test_an_oversized_secret_is_bad_parameter_with_inner_error_secret_too_large(
    kv_emulator: Emulator, name: str, value: str
) -> None:
    client = kv_emulator.secret_client("east")
    with client, pytest.raises(HttpResponseError) as err:
        client.set_secret(name, value)
    assert err.value.status_code == 400
    assert err.value.error is not None
    assert err.value.error.code == "BadParameter"
    assert err.value.error.innererror == {"code": "SecretTooLarge"}
    assert value not in str(err.value)
