"""Restoring certificates (re-imported from the version current at TIME, verified by
thumbprint), items gone from the primary (from a secondary's copy, proven by its link tag), and
keys (only reported), on the emulator through the SDK."""

from __future__ import annotations

import pytest
from azure.keyvault.certificates import (
    CertificatePolicy,
    CertificatePolicyAction,
    LifetimeAction,
)

from kvdr.renewal.ownership import read_policy
from kvdr.restore.marks import MARK_TAG
from kvdr.restore.model import RestoreAction
from kvdr.restore.outcome import RestoreCode
from kvdr.vault.inventory import ItemKind
from kvdr.vault.links import LINK_TAG
from support.vaults import execute, plan_for

C, S, K = ItemKind.CERTIFICATE, ItemKind.SECRET, ItemKind.KEY


def _policy(name: str, *, exportable: bool = True) -> CertificatePolicy:
    return CertificatePolicy("Self", subject=f"CN={name}", validity_in_months=12,
                             exportable=exportable, key_type="RSA",
                             lifetime_actions=[LifetimeAction(
                                 CertificatePolicyAction.auto_renew, lifetime_percentage=80)])


def _create(env, name: str, **kw) -> str:
    cert = env.east.certificates.begin_create_certificate(
        name, kw.pop("policy", None) or _policy(name), **kw).result()
    return cert.properties.x509_thumbprint.hex()


def _sync(env, config, names) -> None:
    """A real sync east -> west of ``names``: the copies carry confirmed link tags."""
    west = env.others["west"]
    result = execute(config, env.east, west, plan_for(config, env.east, west, names))
    assert all(o.ok for o in result.outcomes), [o.to_dict() for o in result.outcomes]


def test_a_certificate_is_rolled_back_by_re_import_with_the_thumbprint_of_time(env):
    name = env.name("tls")
    good = _create(env, name, tags={"svc": "web"})
    at = env.moment()
    bad = _create(env, name, tags={"svc": "oops"})  # a new version: a new key pair
    assert bad != good

    item = env.item(env.plan(at), "tls")
    assert item.action == RestoreAction.ROLL_BACK and item.kind == C
    outcome = env.run(item)
    assert (outcome.ok, outcome.wrote) == (True, True), outcome.to_dict()
    now = env.east.certificates.get_certificate(name).properties
    assert now.x509_thumbprint.hex() == good
    assert {k: v for k, v in now.tags.items() if k != MARK_TAG} == {"svc": "web"}
    assert MARK_TAG in now.tags
    # the primary keeps renewing: the import kept its armed policy
    assert read_policy(env.east, C, name).renewal.armed
    assert env.versions(C, "tls") == 3

    assert env.item(env.plan(at), "tls").action == RestoreAction.UNCHANGED
    again = env.run(item)
    assert (again.ok, again.wrote) == (True, False)
    assert env.versions(C, "tls") == 3


def test_a_non_exportable_certificate_cannot_be_rolled_back(env):
    name = env.name("nonexp")
    _create(env, name, policy=_policy(name, exportable=False))
    at = env.moment()
    _create(env, name, policy=_policy(name, exportable=False))
    item = env.item(env.plan(at), "nonexp")
    assert item.action == RestoreAction.CANNOT and "not exportable" in item.reason
    # and the executor refuses too when asked directly
    forced = env.run(item.__class__(C, name, RestoreAction.ROLL_BACK, version=item.version))
    assert (forced.ok, forced.code) == (False, RestoreCode.NOT_EXPORTABLE)


def test_a_certificate_deleted_after_time_is_recovered_with_its_backing_secret(env):
    name = env.name("deltls")
    thumbprint = _create(env, name)
    at = env.moment()
    env.east.certificates.begin_delete_certificate(name).wait()

    plan = env.plan(at)
    assert [(i.kind, i.action) for i in plan.items] == [(C, RestoreAction.RECOVER)]
    assert env.run(plan.items[0]).wrote
    assert env.east.certificates.get_certificate(name).properties.x509_thumbprint.hex() == \
        thumbprint
    assert env.east.secrets.get_secret(name).properties.managed  # the backing secret is back
    assert env.plan(at).items == ()


def test_a_purged_secret_comes_back_from_the_secondary_copy(env, config):
    name = env.name("purged")
    env.east.secrets.set_secret(name, "good", content_type="text/plain", tags={"app": "x"})
    _sync(env, config, [name])
    at = env.moment()
    env.east.secrets.begin_delete_secret(name).wait()
    env.east.secrets.purge_deleted_secret(name)

    item = env.item(env.plan(at), "purged")
    assert (item.action, item.source_region) == (RestoreAction.FROM_SECONDARY, "west")
    copy_id = env.others["west"].secrets.get_secret(name).properties.version
    assert item.version == copy_id
    outcome = env.run(item)
    assert (outcome.ok, outcome.wrote, outcome.source) == (True, True, f"west/{copy_id}")
    got = env.east.secrets.get_secret(name)
    assert (got.value, got.properties.content_type) == ("good", "text/plain")
    tags = dict(got.properties.tags)
    assert LINK_TAG not in tags and tags.pop(MARK_TAG).startswith("v1:west:")
    assert tags == {"app": "x"}

    assert env.item(env.plan(at), "purged").action == RestoreAction.UNCHANGED
    assert env.run(item).wrote is False
    # the restored version replicates as any write: the copy moves on, the restore holds
    _sync(env, config, [name])
    assert env.item(env.plan(at), "purged").action == RestoreAction.UNCHANGED
    assert env.versions(S, "purged") == 1


def test_a_purged_certificate_comes_back_armed_from_the_disarmed_copy(env, config):
    name = env.name("purgedtls")
    thumbprint = _create(env, name)
    _sync(env, config, [name])
    assert not read_policy(env.others["west"], C, name).renewal.armed  # copies never renew
    at = env.moment()
    env.east.certificates.begin_delete_certificate(name).wait()
    env.east.certificates.purge_deleted_certificate(name)

    item = env.item(env.plan(at), "purgedtls")
    assert item.action == RestoreAction.FROM_SECONDARY
    assert env.run(item).wrote
    assert env.east.certificates.get_certificate(name).properties.x509_thumbprint.hex() == \
        thumbprint
    assert read_policy(env.east, C, name).renewal.encode() == "AutoRenew@80%"
    assert env.item(env.plan(at), "purgedtls").action == RestoreAction.UNCHANGED


def test_a_copy_of_a_version_newer_than_time_proves_nothing(env, config):
    name = env.name("late")
    at = env.moment()
    env.east.secrets.set_secret(name, "created after TIME")
    _sync(env, config, [name])
    env.east.secrets.begin_delete_secret(name).wait()
    env.east.secrets.purge_deleted_secret(name)
    assert [i.name for i in env.plan(at).items] == []


def test_keys_are_only_reported(env):
    rotated, new = env.name("key"), env.name("newkey")
    env.east.keys.create_rsa_key(rotated)
    at = env.moment()
    env.east.keys.create_rsa_key(rotated)
    env.east.keys.create_rsa_key(new)

    plan = env.plan(at, disable_new=True)
    assert env.item(plan, "key").action == RestoreAction.CANNOT
    assert "keys cannot go back" in env.item(plan, "key").reason
    assert env.item(plan, "newkey").action == RestoreAction.REPORT_NEW  # never disabled
    assert all(i.kind != K for i in plan.executable)
    outcome = env.run(env.item(plan, "key"))
    assert (outcome.action, outcome.wrote) == (RestoreAction.CANNOT, False)
    assert len(list(env.east.keys.list_properties_of_key_versions(rotated))) == 2


@pytest.mark.parametrize("kind", [S, C])
def test_an_item_created_after_time_is_reported_or_disabled_never_deleted(env, kind):
    name = env.name(f"fresh{kind}")
    at = env.moment()
    if kind == S:
        env.east.secrets.set_secret(name, "v")
    else:
        _create(env, name)
    assert env.item(env.plan(at), f"fresh{kind}").action == RestoreAction.REPORT_NEW
    item = env.item(env.plan(at, disable_new=True), f"fresh{kind}")
    assert item.action == RestoreAction.DISABLE_NEW
    assert env.run(item).wrote
    assert env.east.item(kind, name).enabled is False
    assert env.versions(kind, f"fresh{kind}") == 1
