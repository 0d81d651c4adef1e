"""Copying certificates: export the source's PFX/PEM (its backing secret) and import it, verify
by thumbprint (the service re-encodes PFX on every export), align attributes. A non-exportable
certificate is skipped: provision it independently.

An import carries a policy, and a copy imported with the source's ``AutoRenew`` renews on its
own (decision 9). So a copy is imported with the source's policy disarmed, after the target's
renewal ledger keeps the armed form (:func:`import_policy_for`); only a reconcile, whose target is
the primary, imports a policy that renews."""

from __future__ import annotations

import base64

from azure.keyvault.certificates import CertificatePolicy, KeyVaultCertificate
from cryptography.hazmat.primitives.serialization import pkcs12

from kvdr.errors import VaultError
from kvdr.renewal.ledger import armed_form, read_entry
from kvdr.renewal.ownership import keep_armed_form
from kvdr.renewal.policy import RenewalPolicy, with_actions
from kvdr.sync.copier import (
    CopyContext,
    ItemFailed,
    ItemSkipped,
    OutcomeCode,
    check_target_version,
    checked_write,
    link_of_copy,
    recover_target,
    user_tags_fit,
)
from kvdr.sync.model import PlanAction, PlanItem, Reason
from kvdr.vault.inventory import ItemKind, ItemProps
from kvdr.vault.links import LinkState, LinkTag, has_room_for_link
from kvdr.vault.session import props_from_certificate, version_token

PFX_CONTENT_TYPE = "application/x-pkcs12"
PEM_CONTENT_TYPE = "application/x-pem-file"


def has_private_key(value: str, content_type: str | None) -> bool:
    if (content_type or "").lower() == PEM_CONTENT_TYPE:
        return "PRIVATE KEY-----" in value
    try:
        key, _cert, _more = pkcs12.load_key_and_certificates(base64.b64decode(value), None)
    except ValueError:
        return False
    return key is not None


def _target_certificate(ctx: CopyContext, name: str) -> KeyVaultCertificate | None:
    t = ctx.target
    return t.call_or_none(f"get certificate '{name}'", t.certificates.get_certificate, name)


def _align_certificate(ctx: CopyContext, name: str, cert: KeyVaultCertificate, source: ItemProps,
                       link: LinkTag | None) -> bool:
    current = props_from_certificate(cert.properties)
    want_link = link.confirmed(current.version) if link is not None and current.version else None
    if want_link is None and current.link_state == LinkState.CONFIRMED and \
            has_room_for_link(source.tags):
        want_link = current.link
    if current.enabled == source.enabled and dict(current.tags) == dict(source.tags) \
            and current.link == want_link:
        return False
    t = ctx.target
    t.call(f"update certificate '{name}'", t.certificates.update_certificate_properties, name,
           cert.properties.version, enabled=source.enabled,
           tags=user_tags_fit(source.tags, want_link))
    return True


def import_policy_for(ctx: CopyContext, name: str, source_policy: CertificatePolicy,
                   existing: KeyVaultCertificate | None) -> CertificatePolicy:
    """The policy to import with. The source's armed form is its own policy unless its ledger
    keeps the armed form of the disarmed one it holds (:func:`kvdr.renewal.ledger.armed_form`).
    A copy: the target's ledger keeps that armed form first (a crash in between leaves an entry
    and no import, never a disarmed copy whose armed form is lost), then the source's policy
    with its lifetime actions disarmed. The primary (reconcile): its own policy when it holds
    the certificate already (its renewal is not the old primary's to change), else the armed
    form."""
    s, t = ctx.source, ctx.target
    if ctx.target_is_primary and existing is not None:
        held = t.call_or_none(f"get certificate policy '{name}'",
                              t.certificates.get_certificate_policy, name)
        if held is not None:
            return held
    armed = armed_form(RenewalPolicy.of_certificate(source_policy),
                       read_entry(s, ItemKind.CERTIFICATE, name))
    if ctx.target_is_primary:
        return with_actions(source_policy, armed)
    keep_armed_form(t, ItemKind.CERTIFICATE, name, armed, epoch=ctx.epoch,
                    held=read_entry(t, ItemKind.CERTIFICATE, name))
    return with_actions(source_policy, armed.disarmed())


def copy_certificate(ctx: CopyContext, item: PlanItem) -> PlanAction:
    s, t = ctx.source, ctx.target
    if item.action == PlanAction.UPDATE_ATTRIBUTES:
        cert = _target_certificate(ctx, item.name)
        check_target_version(item, None if cert is None
                             else version_token(cert.properties.created_on))
        assert item.source is not None
        changed = _align_certificate(ctx, item.name, cert, item.source, item.link)
        return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED

    policy: CertificatePolicy = s.call(f"get certificate policy '{item.name}'",
                                       s.certificates.get_certificate_policy, item.name)
    if policy.exportable is False:
        raise ItemSkipped(Reason.NON_EXPORTABLE)
    source_cert = s.call(f"get certificate '{item.name}'", s.certificates.get_certificate,
                         item.name)
    read = props_from_certificate(source_cert.properties, exportable=policy.exportable)
    link = link_of_copy(read, source_cert.properties.version, s.region, item.link)

    existing = _target_certificate(ctx, item.name)
    if existing is None and item.recover_first:
        recover_target(ctx, item)
        existing = _target_certificate(ctx, item.name)
    if existing is not None and read.thumbprint and \
            props_from_certificate(existing.properties).thumbprint == read.thumbprint:
        changed = _align_certificate(ctx, item.name, existing, read, link)
        return PlanAction.UPDATE_ATTRIBUTES if changed else PlanAction.UNCHANGED

    try:
        backing = s.call(f"export certificate '{item.name}'", s.secrets.get_secret, item.name,
                         source_cert.properties.version)
    except VaultError as exc:
        if exc.code == "vault.forbidden":
            raise ItemFailed(f"{Reason.DISABLED}; its attributes are replicated by the next sync",
                             code=OutcomeCode.SOURCE_DISABLED) from None
        raise
    content_type = (backing.properties.content_type or PFX_CONTENT_TYPE).lower()
    if not backing.value or not has_private_key(backing.value, content_type):
        raise ItemSkipped(Reason.NON_EXPORTABLE)
    data = (backing.value.encode("utf-8") if content_type == PEM_CONTENT_TYPE
            else base64.b64decode(backing.value))
    tags = user_tags_fit(read.tags, link)
    import_policy = import_policy_for(ctx, item.name, policy, existing)

    def write() -> KeyVaultCertificate:
        return t.certificates.import_certificate(item.name, data, policy=import_policy,
                                                 enabled=read.enabled, tags=tags, retry_total=0)

    def landed() -> KeyVaultCertificate | None:
        now = _target_certificate(ctx, item.name)
        if now is not None and props_from_certificate(now.properties).thumbprint == \
                read.thumbprint:
            return now
        return None

    action = PlanAction.CREATE if existing is None else PlanAction.UPDATE_VALUE
    try:
        imported = checked_write(ctx, t, f"import certificate '{item.name}'", write, landed)
    except VaultError as exc:
        if exc.code != "vault.deleted_but_recoverable":
            raise
        recover_target(ctx, item)
        imported = checked_write(ctx, t, f"import certificate '{item.name}'", write, landed)
    got = props_from_certificate(imported.properties)
    if not read.thumbprint or got.thumbprint != read.thumbprint:
        raise ItemFailed("the imported certificate's thumbprint differs from the source's; check "
                         "the target certificate", code=OutcomeCode.VERIFY_FAILED)
    _align_certificate(ctx, item.name, imported, read, link)
    return action
