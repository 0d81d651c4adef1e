"""X.509 work for certificates: self-signed issuance, CSRs, PFX/PEM parsing and export."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID, ObjectIdentifier

from emulator.backups import b64url
from emulator.errors import bad_parameter
from emulator.jwk import PrivateKey, public_jwk

_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.DOTALL)
PKCS12 = "application/x-pkcs12"
PEM = "application/x-pem-file"

_ATTRS = {
    "CN": NameOID.COMMON_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "L": NameOID.LOCALITY_NAME,
    "S": NameOID.STATE_OR_PROVINCE_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "C": NameOID.COUNTRY_NAME,
    "E": NameOID.EMAIL_ADDRESS,
    "EMAILADDRESS": NameOID.EMAIL_ADDRESS,
    "DC": NameOID.DOMAIN_COMPONENT,
}
_USAGES = {
    "digitalSignature": "digital_signature",
    "nonRepudiation": "content_commitment",
    "keyEncipherment": "key_encipherment",
    "dataEncipherment": "data_encipherment",
    "keyAgreement": "key_agreement",
    "keyCertSign": "key_cert_sign",
    "cRLSign": "crl_sign",
    "encipherOnly": "encipher_only",
    "decipherOnly": "decipher_only",
}


def parse_subject(subject: str) -> x509.Name:
    attrs = []
    for part in subject.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        oid = _ATTRS.get(key.strip().upper())
        if not sep or oid is None or not value.strip():
            raise bad_parameter(f"Invalid subject name '{subject}'.")
        attrs.append(x509.NameAttribute(oid, value.strip()))
    if not attrs:
        raise bad_parameter("The certificate policy needs a subject or subject alternative names.")
    return x509.Name(attrs)


def _sans(x509_props: dict[str, Any]) -> list[x509.GeneralName]:
    sans = x509_props.get("sans") or {}
    names: list[x509.GeneralName] = []
    names += [x509.DNSName(n) for n in sans.get("dns_names") or []]
    names += [x509.RFC822Name(n) for n in sans.get("emails") or []]
    names += [x509.UniformResourceIdentifier(n) for n in sans.get("uris") or []]
    return names


def _subject(x509_props: dict[str, Any]) -> x509.Name:
    subject = x509_props.get("subject")
    if subject:
        return parse_subject(subject)
    sans = _sans(x509_props)
    if not sans:
        raise bad_parameter("The certificate policy needs a subject or subject alternative names.")
    return x509.Name([])


def _extensions(builder: Any, x509_props: dict[str, Any]) -> Any:
    sans = _sans(x509_props)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    ekus = x509_props.get("ekus") or []
    if ekus:
        oids = [ObjectIdentifier(e) for e in ekus]
        builder = builder.add_extension(x509.ExtendedKeyUsage(oids), critical=False)
    usages = x509_props.get("key_usage") or []
    if usages:
        flags = {v: False for v in _USAGES.values()}
        for u in usages:
            if u not in _USAGES:
                raise bad_parameter(f"Invalid key usage '{u}'.")
            flags[_USAGES[u]] = True
        builder = builder.add_extension(x509.KeyUsage(**flags), critical=True)
    return builder


def self_signed(
    key: PrivateKey, x509_props: dict[str, Any], now: dt.datetime | None = None
) -> x509.Certificate:
    """Valid from a minute before ``now`` (the emulator's clock; the real time without one)."""
    months = x509_props.get("validity_months") or 12
    start = (now or dt.datetime.now(dt.UTC)) - dt.timedelta(minutes=1)
    name = _subject(x509_props)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=int(months * 365 / 12)))
    )
    builder = _extensions(builder, x509_props)
    return builder.sign(key, hashes.SHA256())


def csr(key: PrivateKey, x509_props: dict[str, Any]) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(_subject(x509_props))
    builder = _extensions(builder, x509_props)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def parse_import(value: str, password: str | None) -> tuple[PrivateKey, x509.Certificate, str]:
    """Key, leaf certificate and content type of an imported PFX (base64) or PEM."""
    if "-----BEGIN" not in value:
        try:
            decoded = base64.b64decode(value, validate=True)
        except (ValueError, binascii.Error) as exc:
            raise bad_parameter("The certificate is neither a base64 PFX nor a PEM.") from exc
        if decoded.lstrip().startswith(b"-----BEGIN"):
            value = decoded.decode("ascii", errors="replace")  # the SDK base64-encodes PEM too
    if "-----BEGIN" in value:
        data = value.encode()
        try:
            certs = x509.load_pem_x509_certificates(data)
            key = serialization.load_pem_private_key(
                _pem_key_block(value), password.encode() if password else None
            )
        except ValueError as exc:
            raise bad_parameter("The PEM must hold a private key and a certificate.") from exc
        return _check_key(key), certs[0], PEM
    try:
        raw = base64.b64decode(value, validate=True)
        loaded = pkcs12.load_key_and_certificates(raw, password.encode() if password else None)
    except (ValueError, binascii.Error) as exc:
        raise bad_parameter(
            "The certificate is neither a base64 PFX nor a PEM, or the password is wrong."
        ) from exc
    pkey, cert, _ = loaded
    if pkey is None or cert is None:
        raise bad_parameter("The PFX must hold a private key and a certificate.")
    return _check_key(pkey), cert, PKCS12


def _pem_key_block(text: str) -> bytes:
    for match in _PEM_BLOCK.finditer(text):
        if "PRIVATE KEY" in match.group(1):
            return match.group(0).encode()
    raise ValueError("no private key")


def _check_key(key: Any) -> PrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise bad_parameter("Only RSA and EC certificate keys are supported.")
    return key


def secret_value(key: PrivateKey | None, cert: x509.Certificate, content_type: str) -> str:
    """The backing secret's value; ``key`` is None for a non-exportable policy."""
    if content_type == PEM:
        out = ""
        if key is not None:
            out += key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
        return out + cert.public_bytes(serialization.Encoding.PEM).decode()
    pfx = pkcs12.serialize_key_and_certificates(None, key, cert, None, serialization.NoEncryption())
    return base64.b64encode(pfx).decode()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def thumbprint(cert_der: bytes) -> str:
    return b64url(hashlib.sha1(cert_der).digest())


def key_props_of(key: PrivateKey) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        return {"kty": "RSA", "key_size": key.key_size}
    return {"kty": "EC", "crv": public_jwk(key, "EC")["crv"]}


def subject_of(cert: x509.Certificate) -> str:
    return ", ".join(f"{a.rfc4514_attribute_name}={a.value!s}" for a in cert.subject)


def sans_of(cert: x509.Certificate) -> dict[str, list[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return {}
    out = {
        "dns_names": ext.get_values_for_type(x509.DNSName),
        "emails": ext.get_values_for_type(x509.RFC822Name),
    }
    return {k: v for k, v in out.items() if v}
