"""What restoring one item's content shares across kinds: the context of one item's restore
(the primary, where the content comes from, the fingerprint key), reading a version's value,
comparing values by keyed fingerprint, and the write that checks before it repeats itself
(:func:`kvdr.sync.copier.checked_write`). Values are read and compared in here and never
leave."""

from __future__ import annotations

from dataclasses import dataclass

from azure.keyvault.secrets import KeyVaultSecret

from kvdr.config.schema import Policies
from kvdr.errors import VaultError
from kvdr.restore.outcome import RestoreCode, RestoreFailed
from kvdr.restore.reads import VersionRecord, latest_record, read_history
from kvdr.sync.copier import CopyContext
from kvdr.vault.fingerprint import fingerprint, fingerprints_match
from kvdr.vault.inventory import ItemKind, item_key
from kvdr.vault.session import VaultSession


@dataclass(frozen=True)
class ItemJob:
    """One item's restore: ``primary`` is written; ``source`` holds the content (the primary
    itself for a roll back, a secondary for a restore from its copy; ``region`` None for the
    primary's own history)."""

    primary: VaultSession
    source: VaultSession
    kind: ItemKind
    name: str
    key: bytes
    region: str | None = None

    @property
    def copy_context(self) -> CopyContext:
        """The copier's context for this write: into the primary, which keeps renewing."""
        return CopyContext(source=self.source, target=self.primary, policies=Policies(),
                           key=self.key, target_is_primary=True)

    def primary_history(self) -> tuple[VersionRecord, ...]:
        records, _ = read_history(self.primary, self.kind, self.name)
        return records

    def primary_latest(self) -> VersionRecord | None:
        """The primary's latest version. Versions created in one second tie in a version
        list, so the service says which is current (a secret's value read with it stays in
        here; a disabled latest cannot be read, and the list decides)."""
        history = self.primary_history()
        p = self.primary
        try:
            if self.kind == ItemKind.CERTIFICATE:
                current = p.call(f"get certificate '{self.name}'", p.certificates.get_certificate,
                                 self.name).properties.version
            else:
                current = p.call(f"get secret '{self.name}'", p.secrets.get_secret,
                                 self.name).properties.version
        except VaultError as exc:
            if exc.code not in ("vault.forbidden", "vault.not_found"):
                raise
            current = None
        found = [r for r in history if current and r.id and r.id.lower() == current.lower()]
        return found[0] if found else latest_record(history)

    def source_version(self, version: str | None) -> VersionRecord:
        """The version to restore, from the source's version list (properties only)."""
        if version:
            records, _ = read_history(self.source, self.kind, self.name)
            for record in records:
                if record.id and record.id.lower() == version.lower():
                    return record
        where = f" in {self.region}" if self.region else ""
        raise RestoreFailed(f"version {version} of {self.kind} '{self.name}'{where} no longer "
                            "exists; run the restore again to re-plan it",
                            code=RestoreCode.SOURCE_GONE)

    def read_secret(self, session: VaultSession, version: str | None) -> KeyVaultSecret:
        """A secret version with its value (a certificate's: its backing secret)."""
        what = f"read {self.kind} '{self.name}' version {version}"
        try:
            return session.call(what, session.secrets.get_secret, self.name, version)
        except VaultError as exc:
            if exc.code == "vault.forbidden":
                raise RestoreFailed(
                    f"{self.kind} '{self.name}' version {version} in {session.region} cannot be "
                    "read (disabled, or kvdr's role lacks Get): enable it and run the restore "
                    "again", code=RestoreCode.SOURCE_UNREADABLE) from None
            if exc.code == "vault.not_found":
                raise RestoreFailed(
                    f"{self.kind} '{self.name}' version {version} no longer exists in "
                    f"{session.region}", code=RestoreCode.SOURCE_GONE) from None
            raise

    def same_value(self, value: str | None, version: str | None) -> bool:
        """Whether the primary's ``version`` holds ``value`` (keyed fingerprints, in here; an
        unreadable version is not the same)."""
        if value is None or version is None:
            return False
        try:
            held = self.primary.call(f"read {self.kind} '{self.name}'",
                                     self.primary.secrets.get_secret, self.name, version).value
        except VaultError as exc:
            if exc.code in ("vault.forbidden", "vault.not_found"):
                return False
            raise
        context = item_key(self.kind, self.name)
        return held is not None and fingerprints_match(
            fingerprint(self.key, value, context=context),
            fingerprint(self.key, held, context=context))
