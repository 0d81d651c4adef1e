"""kvdr's permissions on a vault: the data action a 403 names, and a write check that writes
nothing.

Key Vault authorizes a request before it looks the object up, so an update of a name that
does not exist answers 404 to an identity that may write the kind and 403 ``ForbiddenByRbac``
to one that may not. One such PATCH per kind tells a runbook, before its first write, whether
it can write to its target at all; the alternative — learning it from the first item — would
leave every item before the stop (or, in a batch, every item) failing one by one, with
renewal already aligned and batches stored. Built-in roles grant update together with
set/import/create (the Officer roles); a custom role that splits them is still reported item
by item, with the same code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from typing import Any

from azure.core.exceptions import HttpResponseError

from kvdr.errors import VaultError, VaultPermissionError
from kvdr.vault.inventory import ItemKind

# a name kvdr never creates (reserved names start with "kvdr-"); only ever PATCHed, answered 404
PROBE_NAME = "kvdr-permission-check"
_ACTION = re.compile(r"Action: '([^']+)'")


def denied_action(exc: HttpResponseError) -> str | None:
    """The data action a 403's message names (``Action: 'Microsoft.KeyVault/vaults/…'``), as
    Key Vault's RBAC answer has it; None when it names none."""
    response = getattr(exc, "response", None)
    try:
        body: Any = json.loads(response.text()) if response is not None else None
    except (ValueError, TypeError, AttributeError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    found = _ACTION.search(message) if isinstance(message, str) else None
    return found.group(1) if found else None


def _updaters(session: Any) -> dict[ItemKind, Callable[[str], Any]]:
    return {ItemKind.SECRET: session.secrets.update_secret_properties,
            ItemKind.CERTIFICATE: session.certificates.update_certificate_properties,
            ItemKind.KEY: session.keys.update_key_properties}


def check_write(session: Any, kinds: Iterable[ItemKind]) -> None:
    """Raise :class:`~kvdr.errors.VaultPermissionError` (``vault.permission_denied``, naming
    the region, the actions and the roles) unless kvdr may write every kind in ``kinds`` to the
    session's vault. One PATCH of :data:`PROBE_NAME` per kind, all kinds asked so that one
    error names every missing role; nothing is written (404)."""
    updaters = _updaters(session)
    refused: list[VaultPermissionError] = []
    for kind in dict.fromkeys(ItemKind(k) for k in kinds):
        try:
            session.call(f"check that kvdr may write {kind.value}s", updaters[kind], PROBE_NAME)
        except VaultPermissionError as exc:
            refused.append(exc)
        except VaultError:
            # 404 is the expected answer; any other is not a permission problem and is left
            # to the writes themselves (they report it item by item, as before)
            continue
    if len(refused) == 1:
        raise refused[0]
    if refused:
        raise _combined(refused, session.region)


def _combined(refused: list[VaultPermissionError], region: str) -> VaultPermissionError:
    roles = [r.role for r in refused if r.role]
    actions = [r.action for r in refused if r.action]
    message = (f"kvdr may not write to region {region}'s vault (HTTP 403 ForbiddenByRbac): its "
               f"identity lacks {', '.join(actions) or 'the permissions it needs'}; assign it "
               f"the {' and '.join(roles) or 'Key Vault Officer'} role(s) on region {region}'s "
               "vault (the Bicep template assigns these to kvdr's apps)")
    return VaultPermissionError(message, action=", ".join(actions) or None,
                                role=", ".join(roles) or None, status=403,
                                service_code=refused[0].service_code, region=region)
