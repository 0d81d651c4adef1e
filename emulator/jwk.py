"""Key material: generation, JWK import/export, and the cryptographic operations Key Vault runs."""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from emulator.backups import b64url, b64url_decode
from emulator.errors import bad_parameter

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

RSA_OPS = ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"]
EC_OPS = ["sign", "verify"]
RSA_SIZES = (2048, 3072, 4096)
CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
    "P-256K": ec.SECP256K1(),
}
_CURVE_NAMES = {type(c).__name__: n for n, c in CURVES.items()}
_HASHES: dict[str, hashes.HashAlgorithm] = {
    "256": hashes.SHA256(),
    "384": hashes.SHA384(),
    "512": hashes.SHA512(),
}
_EC_SIGN = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "P-256K"}


def _int_b64(value: int, length: int | None = None) -> str:
    size = length or max(1, (value.bit_length() + 7) // 8)
    return b64url(value.to_bytes(size, "big"))


def _b64_int(jwk: dict[str, Any], field: str) -> int:
    raw = jwk.get(field)
    if not isinstance(raw, str):
        raise bad_parameter(f"The JSON Web Key is missing '{field}'.")
    try:
        return int.from_bytes(b64url_decode(raw), "big")
    except ValueError as exc:
        raise bad_parameter(f"The JSON Web Key field '{field}' is not base64url.") from exc


def generate(kty: str, size: int | None, crv: str | None, exponent: int | None) -> PrivateKey:
    if kty.startswith("RSA"):
        size = size or 2048
        if size not in RSA_SIZES:
            raise bad_parameter(f"Invalid key size {size}; use one of {RSA_SIZES}.")
        return rsa.generate_private_key(exponent or 65537, size)
    if kty.startswith("EC"):
        crv = crv or "P-256"
        if crv not in CURVES:
            raise bad_parameter(f"Invalid curve {crv}; use one of {sorted(CURVES)}.")
        return ec.generate_private_key(CURVES[crv])
    raise bad_parameter(f"Invalid key type {kty}; this vault supports RSA, RSA-HSM, EC, EC-HSM.")


def from_jwk(jwk: Any) -> PrivateKey:
    if not isinstance(jwk, dict) or not isinstance(jwk.get("kty"), str):
        raise bad_parameter("The request must carry a JSON Web Key with 'kty'.")
    kty = jwk["kty"]
    try:
        if kty.startswith("RSA"):
            n, e, d = (_b64_int(jwk, f) for f in ("n", "e", "d"))
            p, q = _b64_int(jwk, "p"), _b64_int(jwk, "q")
            numbers = rsa.RSAPrivateNumbers(
                p,
                q,
                d,
                rsa.rsa_crt_dmp1(d, p),
                rsa.rsa_crt_dmq1(d, q),
                rsa.rsa_crt_iqmp(p, q),
                rsa.RSAPublicNumbers(e, n),
            )
            return numbers.private_key()
        if kty.startswith("EC"):
            crv = jwk.get("crv")
            if crv not in CURVES:
                raise bad_parameter(f"Invalid curve {crv}.")
            pub = ec.EllipticCurvePublicNumbers(_b64_int(jwk, "x"), _b64_int(jwk, "y"), CURVES[crv])
            return ec.EllipticCurvePrivateNumbers(_b64_int(jwk, "d"), pub).private_key()
    except ValueError as exc:
        raise bad_parameter(f"The JSON Web Key is not a valid {kty} private key.") from exc
    raise bad_parameter(f"Invalid key type {kty}; this vault supports RSA and EC keys.")


def to_pem(key: PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def load_pem(pem: str) -> PrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), None)
    assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
    return key


def public_jwk(key: PrivateKey, kty: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        pub = key.public_key().public_numbers()
        return {"kty": kty, "n": _int_b64(pub.n), "e": _int_b64(pub.e)}
    pub_ec = key.public_key().public_numbers()
    length = (key.curve.key_size + 7) // 8
    return {
        "kty": kty,
        "crv": _CURVE_NAMES[type(key.curve).__name__],
        "x": _int_b64(pub_ec.x, length),
        "y": _int_b64(pub_ec.y, length),
    }


def _oaep(alg: str) -> padding.AsymmetricPadding:
    if alg == "RSA1_5":
        return padding.PKCS1v15()
    if alg == "RSA-OAEP":
        return padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    if alg == "RSA-OAEP-256":
        return padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    raise bad_parameter(f"Algorithm {alg} is not supported for this operation.")


def _rsa(key: PrivateKey, alg: str) -> rsa.RSAPrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey):
        raise bad_parameter(f"Algorithm {alg} requires an RSA key.")
    return key


def encrypt(key: PrivateKey, alg: str, data: bytes) -> bytes:
    return _rsa(key, alg).public_key().encrypt(data, _oaep(alg))


def decrypt(key: PrivateKey, alg: str, data: bytes) -> bytes:
    try:
        return _rsa(key, alg).decrypt(data, _oaep(alg))
    except ValueError as exc:
        raise bad_parameter("Decryption failed: the ciphertext does not match this key.") from exc


def _rsa_sign_params(alg: str, digest: bytes) -> tuple[padding.AsymmetricPadding, Prehashed]:
    if alg[:2] not in ("RS", "PS") or alg[2:] not in _HASHES:
        raise bad_parameter(f"Algorithm {alg} is not supported for signing.")
    h = _HASHES[alg[2:]]
    if len(digest) != h.digest_size:
        raise bad_parameter(f"The digest length does not match algorithm {alg}.")
    pad: padding.AsymmetricPadding = padding.PKCS1v15()
    if alg.startswith("PS"):
        pad = padding.PSS(padding.MGF1(h), h.digest_size)
    return pad, Prehashed(h)


def _ec_hash(key: ec.EllipticCurvePrivateKey, alg: str, digest: bytes) -> Prehashed:
    curve = _EC_SIGN.get(alg)
    if curve is None or _CURVE_NAMES[type(key.curve).__name__] != curve:
        raise bad_parameter(f"Algorithm {alg} does not match the key's curve.")
    h = _HASHES["256" if alg == "ES256K" else alg[2:]]
    if len(digest) != h.digest_size:
        raise bad_parameter(f"The digest length does not match algorithm {alg}.")
    return Prehashed(h)


def sign(key: PrivateKey, alg: str, digest: bytes) -> bytes:
    if isinstance(key, rsa.RSAPrivateKey):
        pad, pre = _rsa_sign_params(alg, digest)
        return key.sign(digest, pad, pre)
    der = key.sign(digest, ec.ECDSA(_ec_hash(key, alg, digest)))
    r, s = decode_dss_signature(der)
    length = (key.curve.key_size + 7) // 8
    return r.to_bytes(length, "big") + s.to_bytes(length, "big")


def verify(key: PrivateKey, alg: str, digest: bytes, signature: bytes) -> bool:
    try:
        if isinstance(key, rsa.RSAPrivateKey):
            pad, pre = _rsa_sign_params(alg, digest)
            key.public_key().verify(signature, digest, pad, pre)
            return True
        pre_ec = _ec_hash(key, alg, digest)
        half = len(signature) // 2
        der = encode_dss_signature(
            int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        )
        key.public_key().verify(der, digest, ec.ECDSA(pre_ec))
        return True
    except InvalidSignature:
        return False
