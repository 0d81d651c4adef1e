"""The data-plane route table: (method, path shape) → operation name, handler, budget class."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator import (
    certificate_admin,
    certificate_operations,
    certificate_policy,
    certificates,
    key_rotation,
    keys,
    secrets,
)
from emulator.throttle import OpClass

W = "*"  # one path segment, passed to the handler
CREATE = (OpClass.CREATE,)
KEY_CREATE = (OpClass.CREATE, OpClass.KEY_CREATE)
OTHER = (OpClass.OTHER,)


@dataclass(frozen=True)
class Route:
    method: str
    shape: tuple[str, ...]
    op: str
    handler: Callable[..., tuple[int, dict[str, Any]]]
    classes: tuple[OpClass, ...] = OTHER
    fixed: tuple[str, ...] = ()  # extra trailing arguments for the handler


def _crud(coll: str, noun: str, plural: str, module: Any, get: Any, update: Any) -> list[Route]:
    """Routes every object kind has in the same shape."""
    deleted = f"deleted{coll}"
    return [
        Route("GET", (coll,), f"Get{plural}", getattr(module, f"list_{coll}")),
        Route("GET", (coll, W, "versions"), f"Get{noun}Versions", module.list_versions),
        Route("GET", (coll, W), f"Get{noun}", get),
        Route("GET", (coll, W, W), f"Get{noun}", get),
        Route("PATCH", (coll, W), f"Update{noun}", update),
        Route("PATCH", (coll, W, W), f"Update{noun}", update),
        Route("DELETE", (coll, W), f"Delete{noun}", getattr(module, f"delete_{noun.lower()}")),
        Route("POST", (coll, W, "backup"), f"Backup{noun}", module.backup),
        Route("POST", (coll, "restore"), f"Restore{noun}", module.restore),
        Route("GET", (deleted,), f"GetDeleted{plural}", module.list_deleted),
        Route("GET", (deleted, W), f"GetDeleted{noun}", module.get_deleted),
        Route("DELETE", (deleted, W), f"PurgeDeleted{noun}", module.purge),
        Route("POST", (deleted, W, "recover"), f"RecoverDeleted{noun}", module.recover),
    ]


def _key_ops() -> list[Route]:
    names = {
        "sign": ("Sign", "sign"),
        "verify": ("Verify", "verify"),
        "encrypt": ("Encrypt", "encrypt"),
        "decrypt": ("Decrypt", "decrypt"),
        "wrapkey": ("WrapKey", "wrapKey"),
        "unwrapkey": ("UnwrapKey", "unwrapKey"),
    }
    return [
        Route("POST", ("keys", W, W, path), op, keys.key_operation, fixed=(operation,))
        for path, (op, operation) in names.items()
    ]


def _certificate_settings() -> list[Route]:
    """Contacts and issuers: listed before the certificate routes whose shapes they share."""
    admin = certificate_admin
    contacts = ("certificates", "contacts")
    issuers = ("certificates", "issuers")
    return [
        Route("PUT", contacts, "SetCertificateContacts", admin.set_contacts),
        Route("GET", contacts, "GetCertificateContacts", admin.get_contacts),
        Route("DELETE", contacts, "DeleteCertificateContacts", admin.delete_contacts),
        Route("GET", issuers, "GetCertificateIssuers", admin.list_issuers),
        Route("PUT", (*issuers, W), "SetCertificateIssuer", admin.set_issuer),
        Route("GET", (*issuers, W), "GetCertificateIssuer", admin.get_issuer),
        Route("PATCH", (*issuers, W), "UpdateCertificateIssuer", admin.update_issuer),
        Route("DELETE", (*issuers, W), "DeleteCertificateIssuer", admin.delete_issuer),
    ]


ROUTES: list[Route] = [
    Route("PUT", ("secrets", W), "SetSecret", secrets.set_secret, CREATE),
    *_crud("secrets", "Secret", "Secrets", secrets, secrets.get_secret, secrets.update_secret),
    Route("POST", ("keys", W, "create"), "CreateKey", keys.create_key, KEY_CREATE),
    Route("PUT", ("keys", W), "ImportKey", keys.import_key, CREATE),
    Route("POST", ("keys", W, "rotate"), "RotateKey", key_rotation.rotate_key, KEY_CREATE),
    Route("GET", ("keys", W, "rotationpolicy"), "GetKeyRotationPolicy", key_rotation.get_policy),
    Route(
        "PUT", ("keys", W, "rotationpolicy"), "UpdateKeyRotationPolicy", key_rotation.update_policy
    ),
    *_crud("keys", "Key", "Keys", keys, keys.get_key, keys.update_key),
    *_key_ops(),
    Route(
        "POST",
        ("certificates", W, "create"),
        "CreateCertificate",
        certificate_operations.create_certificate,
        CREATE,
    ),
    Route(
        "POST",
        ("certificates", W, "import"),
        "ImportCertificate",
        certificates.import_certificate,
        CREATE,
    ),
    Route(
        "GET", ("certificates", W, "policy"), "GetCertificatePolicy", certificate_policy.get_policy
    ),
    Route(
        "PATCH",
        ("certificates", W, "policy"),
        "UpdateCertificatePolicy",
        certificate_policy.update_policy,
    ),
    Route(
        "GET",
        ("certificates", W, "pending"),
        "GetCertificateOperation",
        certificate_operations.get_operation,
    ),
    Route(
        "PATCH",
        ("certificates", W, "pending"),
        "UpdateCertificateOperation",
        certificate_operations.update_operation,
    ),
    Route(
        "DELETE",
        ("certificates", W, "pending"),
        "DeleteCertificateOperation",
        certificate_operations.delete_operation,
    ),
    Route(
        "POST",
        ("certificates", W, "pending", "merge"),
        "MergeCertificate",
        certificate_operations.merge,
    ),
    *_certificate_settings(),
    *_crud(
        "certificates",
        "Certificate",
        "Certificates",
        certificates,
        certificates.get_certificate,
        certificates.update_certificate,
    ),
]

_BY_FIRST: dict[str, list[Route]] = {}
for _r in ROUTES:
    _BY_FIRST.setdefault(_r.shape[0], []).append(_r)


def match(method: str, segments: list[str]) -> tuple[Route | None, list[str], bool]:
    """The route for a request, its wildcard arguments, and whether the path exists at all."""
    path_known = False
    n = len(segments)
    for route in _BY_FIRST.get(segments[0].lower(), ()) if segments else ():
        shape = route.shape
        if len(shape) != n:
            continue
        args: list[str] = []
        for want, got in zip(shape, segments, strict=True):
            if want == W:
                args.append(got)
            elif want != got.lower():
                break
        else:
            if route.method == method:
                return route, args, True
            path_known = True
    return None, [], path_known
