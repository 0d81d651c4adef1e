"""Writing a restored secret into the primary: the value and metadata of ``source`` (a version
of the primary's own history, or a secondary's copy) as a new version, marked with what it
restores. Check, then act: a restore that already landed (the mark confirmed; pending after a
crash, with the same value; or, without room for the mark, the same value and metadata) writes
nothing again."""

from __future__ import annotations

from azure.keyvault.secrets import KeyVaultSecret, SecretProperties

from kvdr.restore.content import ItemJob
from kvdr.restore.marks import MARK_TAG, RestoreMark, mark_of, tags_with_mark, without_mark
from kvdr.restore.reads import VersionRecord
from kvdr.sync.copier import checked_write
from kvdr.vault.inventory import ItemProps
from kvdr.vault.session import props_from_secret


def _same_metadata(a: ItemProps, b: ItemProps) -> bool:
    return ((a.content_type, a.enabled, a.not_before, a.expires, without_mark(a.tags))
            == (b.content_type, b.enabled, b.not_before, b.expires, without_mark(b.tags)))


def confirm_secret(job: ItemJob, version: str, tags: dict[str, str]) -> None:
    """Confirm the mark in ``tags`` for the version the write produced (no new version)."""
    mark = mark_of(tags)
    if mark is None:
        return
    p = job.primary
    p.call(f"update secret '{job.name}'", p.secrets.update_secret_properties, job.name, version,
           tags={**tags, MARK_TAG: mark.confirmed(version).format()})


def put_secret(job: ItemJob, source: VersionRecord) -> tuple[bool, str]:
    """Restore ``source`` (read from ``job.source``) as the primary's latest version.
    Answers (wrote, what was done)."""
    assert source.id is not None
    latest = job.primary_latest()
    if latest is not None and job.region is None and latest.id == source.id:
        return False, f"version {source.id} is the latest already"
    mark = RestoreMark(source.id, job.region)
    tags = tags_with_mark(source.props.tags, mark)
    held = mark_of(latest.props.tags) if latest is not None else None
    if held is not None and latest is not None and held.names(source.id, job.region) \
            and held.confirmed_for(latest.id):
        return False, f"already restored (version {latest.id})"

    secret = job.read_secret(job.source, source.id)
    if latest is not None and latest.id is not None:
        if held is not None and held.names(source.id, job.region) and held.own_version is None:
            if job.same_value(secret.value, latest.id):  # a restore whose confirm was lost
                confirm_secret(job, latest.id, dict(latest.props.tags))
                return True, f"restored version {source.id} as version {latest.id} (confirmed)"
        elif MARK_TAG not in tags and _same_metadata(latest.props, source.props) \
                and job.same_value(secret.value, latest.id):
            return False, f"already restored (version {latest.id}; compared by fingerprint)"

    p = job.primary
    meta = source.props

    def write() -> KeyVaultSecret:
        return p.secrets.set_secret(job.name, secret.value, content_type=meta.content_type,
                                    enabled=meta.enabled, not_before=meta.not_before,
                                    expires_on=meta.expires, tags=tags, retry_total=0)

    def landed() -> SecretProperties | None:
        now = p.latest_secret_properties(job.name)
        if now is None or MARK_TAG not in tags:
            return None
        found = mark_of(props_from_secret(now).tags)
        if found is not None and found.names(source.id, job.region) and (
                latest is None or now.version != latest.id):
            return now
        return None

    written = checked_write(job.copy_context, p, f"set secret '{job.name}'", write, landed)
    new: SecretProperties = getattr(written, "properties", written)
    assert new.version is not None
    confirm_secret(job, new.version, tags)
    return True, f"restored version {source.id} as version {new.version}"
