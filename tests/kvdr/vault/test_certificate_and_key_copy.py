"""Certificates by export/import (verified by thumbprint) and keys by backup/restore."""

from __future__ import annotations

from azure.keyvault.certificates import CertificateContentType, CertificatePolicy

from kvdr.sync.model import PlanAction, Reason
from kvdr.vault.inventory import ItemKind
from kvdr.vault.links import LINK_TAG
from support.vaults import actions, execute, pending_work, plan_for, version_count


def _policy(content_type: CertificateContentType, **kw) -> CertificatePolicy:
    return CertificatePolicy(issuer_name="Self", subject=f"CN={kw.pop('cn', 'kvdr')}",
                             content_type=content_type, validity_in_months=12, **kw)


def test_pfx_and_pem_certificates_copy_with_policy_tags_and_equal_thumbprints(
        config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    pfx, pem = unique("pfx"), unique("pem")
    east.certificates.begin_create_certificate(
        pfx, _policy(CertificateContentType.pkcs12), tags={"owner": "web"}).result()
    east.certificates.begin_create_certificate(
        pem, _policy(CertificateContentType.pem, key_type="EC", key_curve_name="P-256"),
        enabled=True).result()
    plan = plan_for(config, east, west, [pfx, pem], kinds=[ItemKind.CERTIFICATE])
    assert actions(plan) == {pfx: "create", pem: "create"}
    result = execute(config, east, west, plan)
    assert [(o.action, o.ok) for o in result.outcomes] == [(PlanAction.CREATE, True)] * 2

    for name, content_type in ((pfx, "application/x-pkcs12"), (pem, "application/x-pem-file")):
        source, copy = east.certificates.get_certificate(name), west.certificates.get_certificate(
            name)
        assert copy.properties.x509_thumbprint == source.properties.x509_thumbprint
        assert copy.properties.enabled is True
        assert copy.policy.content_type == content_type
        assert west.secrets.get_secret(name).properties.content_type == content_type
        assert LINK_TAG in copy.properties.tags
    assert {k: v for k, v in west.certificates.get_certificate(pfx).properties.tags.items()
            if k != LINK_TAG} == {"owner": "web"}
    assert west.certificates.get_certificate_policy(pem).key_type == "EC"
    assert pending_work(plan_for(config, east, west, [pfx, pem], kinds=[ItemKind.CERTIFICATE,
                                                                        ItemKind.SECRET])) == {}
    again = execute(config, east, west, plan)
    assert {o.action for o in again.outcomes} == {PlanAction.UNCHANGED}
    assert version_count(west, ItemKind.CERTIFICATE, pfx) == 1


def test_non_exportable_certificate_is_reported_not_copied(config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    name = unique("nonexp")
    east.certificates.begin_create_certificate(
        name, _policy(CertificateContentType.pkcs12, exportable=False, key_type="RSA")).result()
    result = execute(config, east, west, plan_for(config, east, west, [name],
                                                  kinds=[ItemKind.CERTIFICATE]))
    assert [(o.action, o.ok, o.message) for o in result.outcomes] == [
        (PlanAction.SKIP, True, Reason.NON_EXPORTABLE)]
    assert west.item(ItemKind.CERTIFICATE, name) is None


def test_same_geography_key_is_restored_with_tags_and_link(config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    name = unique("key")
    east.keys.create_rsa_key(name, size=2048, tags={"use": "signing"})
    plan = plan_for(config, east, west, [name])
    assert actions(plan) == {name: "create"}
    result = execute(config, east, west, plan)
    assert [(o.action, o.ok) for o in result.outcomes] == [(PlanAction.CREATE, True)]
    copy = west.keys.get_key(name)
    assert copy.key.n == east.keys.get_key(name).key.n
    assert copy.properties.tags["use"] == "signing" and LINK_TAG in copy.properties.tags
    assert pending_work(plan_for(config, east, west, [name])) == {}
    again = execute(config, east, west, plan)
    assert {o.action for o in again.outcomes} == {PlanAction.UNCHANGED}
    east.keys.update_key_properties(name, enabled=False, tags={"use": "retired"})
    plan = plan_for(config, east, west, [name])
    assert actions(plan) == {name: "update_attributes"}
    execute(config, east, west, plan)
    assert west.keys.get_key(name).properties.enabled is False
    assert pending_work(plan_for(config, east, west, [name])) == {}


def test_cross_geography_key_is_reported_provision_independently(config, sessions,
                                                                  unique) -> None:
    east, europe = sessions["east"], sessions["europe"]
    name = unique("key-eu")
    east.keys.create_ec_key(name)
    plan = plan_for(config, east, europe, [name])
    assert [(i.action, i.reason) for i in plan.items] == [(PlanAction.SKIP, Reason.KEY_GEOGRAPHY)]
    result = execute(config, east, europe, plan)
    assert result.outcomes == ()
    assert europe.item(ItemKind.KEY, name) is None
