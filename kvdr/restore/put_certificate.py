"""Writing a restored certificate into the primary: the certificate of ``source`` (a version of
the primary's own history, or a secondary's copy) re-imported from its backing secret version
(its PFX or PEM) and verified by thumbprint, as the sync's copier does
(:mod:`kvdr.sync.copy_certificates`, whose helpers this reuses). The thumbprint tells whether
the restore already landed, so a rerun imports nothing again.

The import's policy: a roll back keeps the primary's own policy (its renewal is the primary's);
a restore from a secondary's copy imports the armed form the secondary's renewal ledger keeps
(the copy there is disarmed, decision 9), or keeps the primary's policy when the primary holds
the certificate already."""

from __future__ import annotations

import base64

from azure.keyvault.certificates import CertificatePolicy, KeyVaultCertificate

from kvdr.restore.content import ItemJob
from kvdr.restore.marks import MARK_TAG, RestoreMark, mark_of, tags_with_mark, without_mark
from kvdr.restore.outcome import RestoreCode, RestoreFailed
from kvdr.restore.reads import VersionRecord
from kvdr.sync.copier import checked_write
from kvdr.sync.copy_certificates import (
    PEM_CONTENT_TYPE,
    PFX_CONTENT_TYPE,
    has_private_key,
    import_policy_for,
)
from kvdr.vault.session import props_from_certificate


def _not_exportable(job: ItemJob) -> RestoreFailed:
    where = job.region or job.primary.region
    return RestoreFailed(f"certificate '{job.name}' in {where} is not exportable: it cannot be "
                         "re-imported; provision it again", code=RestoreCode.NOT_EXPORTABLE)


def _align(job: ItemJob, version: str, source: VersionRecord, current_tags: dict[str, str],
           tags: dict[str, str]) -> bool:
    """Give the primary's ``version`` (already the right certificate) the source's enabled
    state and tags, the mark confirmed for it; True when an update was sent."""
    mark = mark_of(tags)
    want = dict(tags)
    if mark is not None:
        want[MARK_TAG] = mark.confirmed(version).format()
    if without_mark(current_tags) == without_mark(want) and \
            current_tags.get(MARK_TAG) == want.get(MARK_TAG):
        return False
    p = job.primary
    p.call(f"update certificate '{job.name}'", p.certificates.update_certificate_properties,
           job.name, version, enabled=source.props.enabled, tags=want)
    return True


def put_certificate(job: ItemJob, source: VersionRecord) -> tuple[bool, str]:
    """Restore the certificate of ``source`` (in ``job.source``) as the primary's latest.
    Answers (wrote, what was done)."""
    assert source.id is not None
    thumbprint = source.props.thumbprint
    tags = tags_with_mark(source.props.tags, RestoreMark(source.id, job.region))
    latest = job.primary_latest()
    if latest is not None and latest.id is not None and thumbprint and \
            latest.props.thumbprint == thumbprint:
        if job.region is None and latest.id == source.id:
            return False, f"version {source.id} is the latest already"
        held = mark_of(latest.props.tags)
        if held is not None and held.names(source.id, job.region) and \
                held.confirmed_for(latest.id) and latest.props.enabled == source.props.enabled:
            return False, f"already restored (version {latest.id})"
        if _align(job, latest.id, source, dict(latest.props.tags), tags):
            return True, (f"version {latest.id} already holds the certificate of version "
                          f"{source.id}: its enabled state and tags restored")
        return False, f"already restored (version {latest.id}; same thumbprint)"

    s, p = job.source, job.primary
    policy: CertificatePolicy | None = s.call_or_none(
        f"get certificate policy '{job.name}'", s.certificates.get_certificate_policy, job.name)
    if policy is None:
        raise RestoreFailed(f"certificate '{job.name}' no longer exists in {s.region}",
                            code=RestoreCode.SOURCE_GONE)
    if policy.exportable is False:
        raise _not_exportable(job)
    backing = job.read_secret(s, source.id)
    content_type = (backing.properties.content_type or PFX_CONTENT_TYPE).lower()
    if not backing.value or not has_private_key(backing.value, content_type):
        raise _not_exportable(job)
    data = (backing.value.encode("utf-8") if content_type == PEM_CONTENT_TYPE
            else base64.b64decode(backing.value))
    if job.region is not None:  # a copy's policy is disarmed: import the armed form
        existing = p.call_or_none(f"get certificate '{job.name}'",
                                  p.certificates.get_certificate, job.name)
        policy = import_policy_for(job.copy_context, job.name, policy, existing)

    def write() -> KeyVaultCertificate:
        return p.certificates.import_certificate(job.name, data, policy=policy,
                                                 enabled=source.props.enabled, tags=tags,
                                                 retry_total=0)

    def landed() -> KeyVaultCertificate | None:
        now = p.call_or_none(f"get certificate '{job.name}'", p.certificates.get_certificate,
                             job.name)
        if now is not None and props_from_certificate(now.properties).thumbprint == thumbprint:
            return now
        return None

    imported = checked_write(job.copy_context, p, f"import certificate '{job.name}'", write,
                             landed)
    got = props_from_certificate(imported.properties)
    if not thumbprint or got.thumbprint != thumbprint:
        raise RestoreFailed(f"the certificate imported into '{job.name}' has another thumbprint "
                            f"than version {source.id}; check the certificate",
                            code=RestoreCode.VERIFY_FAILED)
    version = imported.properties.version
    assert version is not None
    _align(job, version, source, dict(imported.properties.tags or {}), tags)
    return True, f"re-imported version {source.id} as version {version}"
