"""Role-based access as Key Vault's RBAC answers it: which data action a request is, what a
token may do in which vault (the ``--roles`` file), and the 403 a missing permission gets.

A roles file maps a bearer token either to one role for every vault (``"read"`` | ``"full"``)
or to a role per vault (``{"east": "full", "west": "read"}``; a vault left out: no role there,
so every request to it is forbidden, as for an identity with no assignment on a vault).
``read`` may send GET requests only (metadata, values, versions, policies); ``full`` anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from emulator.errors import KvError, forbidden
from emulator.vaults import Role

ACTION_PREFIX = "Microsoft.KeyVault/vaults/"

# the data action of each operation (emulator/routes.py names them); Key Vault's RBAC checks it
_SECRET_ACTIONS = {
    "SetSecret": "secrets/setSecret/action", "GetSecret": "secrets/getSecret/action",
    "UpdateSecret": "secrets/update/action", "DeleteSecret": "secrets/delete",
    "BackupSecret": "secrets/backup/action", "RestoreSecret": "secrets/restore/action",
    "PurgeDeletedSecret": "secrets/purge/action",
    "RecoverDeletedSecret": "secrets/recover/action",
}
_KEY_ACTIONS = {
    "CreateKey": "keys/create/action", "ImportKey": "keys/import/action",
    "RotateKey": "keys/rotate/action", "UpdateKey": "keys/update/action",
    "DeleteKey": "keys/delete", "BackupKey": "keys/backup/action",
    "RestoreKey": "keys/restore/action", "PurgeDeletedKey": "keys/purge/action",
    "RecoverDeletedKey": "keys/recover/action", "Sign": "keys/sign/action",
    "Verify": "keys/verify/action", "Encrypt": "keys/encrypt/action",
    "Decrypt": "keys/decrypt/action", "WrapKey": "keys/wrap/action",
    "UnwrapKey": "keys/unwrap/action", "GetKeyRotationPolicy": "keyrotationpolicies/read",
    "UpdateKeyRotationPolicy": "keyrotationpolicies/write",
}
_CERTIFICATE_ACTIONS = {
    "CreateCertificate": "certificates/create/action",
    "ImportCertificate": "certificates/import/action",
    "UpdateCertificate": "certificates/update/action",
    "UpdateCertificatePolicy": "certificates/update/action",
    "UpdateCertificateOperation": "certificates/update/action",
    "MergeCertificate": "certificates/update/action",
    "DeleteCertificate": "certificates/delete",
    "DeleteCertificateOperation": "certificates/delete",
    "BackupCertificate": "certificates/backup/action",
    "RestoreCertificate": "certificates/restore/action",
    "PurgeDeletedCertificate": "certificates/purge/action",
    "RecoverDeletedCertificate": "certificates/recover/action",
    "SetCertificateContacts": "certificatecontacts/write/action",
    "DeleteCertificateContacts": "certificatecontacts/write/action",
    "GetCertificateContacts": "certificatecontacts/read",
    "SetCertificateIssuer": "certificatecas/write/action",
    "UpdateCertificateIssuer": "certificatecas/write/action",
    "DeleteCertificateIssuer": "certificatecas/delete",
    "GetCertificateIssuer": "certificatecas/read", "GetCertificateIssuers": "certificatecas/read",
}
_ACTIONS = {**_SECRET_ACTIONS, **_KEY_ACTIONS, **_CERTIFICATE_ACTIONS}
# anything else a collection answers (lists, versions, deleted items, pending operations)
_READ_ACTIONS = {"secrets": "secrets/readMetadata/action", "keys": "keys/read",
                 "certificates": "certificates/read"}


def data_action(op: str, collection: str) -> str:
    """The RBAC data action of operation ``op`` on ``collection`` (a path's first segment)."""
    action = _ACTIONS.get(op) or _READ_ACTIONS.get(collection.lower(), f"{collection}/read")
    return ACTION_PREFIX + action


RoleGrant = Role | dict[str, Role]


def parse_roles(raw: Mapping[str, Any]) -> dict[str, RoleGrant]:
    """A roles document as grants; ValueError naming the token whose value is not a role or a
    per-vault map of roles."""
    grants: dict[str, RoleGrant] = {}
    for token, value in raw.items():
        if isinstance(value, str) and value in tuple(Role):
            grants[token] = Role(value)
        elif isinstance(value, dict) and value and all(
                isinstance(v, str) and isinstance(r, str) and r in tuple(Role)
                for v, r in value.items()):
            grants[token] = {v: Role(r) for v, r in value.items()}
        else:
            raise ValueError(f'token {token!r}: give "read" | "full", or a per-vault object '
                             '{"vault": "read" | "full", …}')
    return grants


def role_in(grant: RoleGrant, vault: str) -> Role | None:
    """The role a grant gives in ``vault`` (None: none there)."""
    return grant.get(vault) if isinstance(grant, dict) else grant


def check(grant: RoleGrant, *, vault: str, geography: str, method: str, op: str,
          collection: str, path: str) -> None:
    """Raise Key Vault's RBAC 403 unless the grant allows this request in this vault."""
    role = role_in(grant, vault)
    if role is Role.FULL or (role is Role.READ and method == "GET"):
        return
    raise not_authorized(data_action(op, collection), vault=vault, geography=geography,
                         path=path)


def not_authorized(action: str, *, vault: str, geography: str, path: str) -> KvError:
    """Key Vault's answer to a caller without the role: 403 ``Forbidden``, inner code
    ``ForbiddenByRbac``, the message naming the action and the resource."""
    resource = f"/vaults/{vault}{path.rstrip('/')}"
    message = ("Caller is not authorized to perform action on resource.\r\n"
               "If role assignments, deny assignments or role definitions were changed "
               "recently, please observe propagation time.\r\n"
               "Caller: appid=emulator;oid=emulator\r\n"
               f"Action: '{action}'\r\n"
               f"Resource: '{resource.lower()}'\r\n"
               "Assignment: (not found)\r\n"
               "DenyAssignmentId: null\r\n"
               "DecisionReason: null \r\n"
               f"Vault: {vault};location={geography}\r\n")
    return forbidden(message, inner_code="ForbiddenByRbac")
