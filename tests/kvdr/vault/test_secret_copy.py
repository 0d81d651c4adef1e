"""Secrets: every attribute round-trips, copies are idempotent, links are confirmed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kvdr.sync.model import PlanAction
from kvdr.vault.inventory import ItemKind
from kvdr.vault.links import LINK_TAG, LinkTag
from support.vaults import actions, execute, pending_work, plan_for, version_count


def test_secret_value_and_every_attribute_round_trip(config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    name = unique("rt")
    nbf = datetime(2026, 1, 1, tzinfo=UTC)
    exp = datetime(2030, 1, 1, tzinfo=UTC)
    east.secrets.set_secret(name, "value-rt-1", content_type="text/plain", not_before=nbf,
                            expires_on=exp, tags={"team": "payments", "env": "prod"})
    plan = plan_for(config, east, west, [name])
    assert actions(plan) == {name: "create"}
    result = execute(config, east, west, plan)
    assert [o.action for o in result.outcomes] == [PlanAction.CREATE]
    assert all(o.ok for o in result.outcomes)

    copy = west.secrets.get_secret(name)
    assert copy.value == "value-rt-1"
    assert copy.properties.content_type == "text/plain"
    assert copy.properties.enabled is True
    assert copy.properties.not_before == nbf and copy.properties.expires_on == exp
    tags = dict(copy.properties.tags)
    link = LinkTag.parse(tags.pop(LINK_TAG))
    assert tags == {"team": "payments", "env": "prod"}
    assert link.origin_region == "east" and link.copy_version is not None
    assert pending_work(plan_for(config, east, west, [name])) == {}


def test_running_the_same_plan_twice_creates_no_extra_version(config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    names = [unique("twice") for _ in range(3)]
    for n in names:
        east.secrets.set_secret(n, f"value-{n}")
    plan = plan_for(config, east, west, names)
    first = execute(config, east, west, plan)
    second = execute(config, east, west, plan)
    assert {o.action for o in first.outcomes} == {PlanAction.CREATE}
    assert {o.action for o in second.outcomes} == {PlanAction.UNCHANGED}
    assert [version_count(west, ItemKind.SECRET, n) for n in names] == [1, 1, 1]


def test_a_pending_link_is_confirmed_without_a_new_version(config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    name = unique("pending")
    east.secrets.set_secret(name, "value-pending")
    plan = plan_for(config, east, west, [name])
    # an interrupted copy: written with the pending link, never confirmed
    item = plan.items[0]
    west.secrets.set_secret(name, "value-pending", tags={LINK_TAG: item.link.format()})
    replan = plan_for(config, east, west, [name])
    assert actions(replan) == {name: "verify_fingerprint"}
    result = execute(config, east, west, replan)
    assert result.outcomes[0].action == PlanAction.UPDATE_ATTRIBUTES
    assert version_count(west, ItemKind.SECRET, name) == 1
    assert pending_work(plan_for(config, east, west, [name])) == {}
    # and the original plan, retried, writes nothing either
    again = execute(config, east, west, plan)
    assert again.outcomes[0].action == PlanAction.UNCHANGED
    assert version_count(west, ItemKind.SECRET, name) == 1


def test_attribute_changes_update_properties_only(config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    name = unique("attrs")
    east.secrets.set_secret(name, "value-attrs", tags={"a": "1"})
    execute(config, east, west, plan_for(config, east, west, [name]))
    east.secrets.update_secret_properties(name, content_type="application/json",
                                          expires_on=datetime.now(UTC) + timedelta(days=9),
                                          tags={"a": "2"})
    plan = plan_for(config, east, west, [name])
    assert actions(plan) == {name: "update_attributes"}
    result = execute(config, east, west, plan)
    assert result.outcomes[0].action == PlanAction.UPDATE_ATTRIBUTES
    props = west.secrets.get_secret(name).properties
    assert props.content_type == "application/json" and props.tags["a"] == "2"
    assert LINK_TAG in props.tags
    assert version_count(west, ItemKind.SECRET, name) == 1
    assert pending_work(plan_for(config, east, west, [name])) == {}


def test_disabled_source_replicates_attributes_only(config, sessions, unique) -> None:
    east, west = sessions["east"], sessions["west"]
    copied, never = unique("dis"), unique("dis-new")
    east.secrets.set_secret(copied, "value-dis")
    execute(config, east, west, plan_for(config, east, west, [copied]))
    east.secrets.update_secret_properties(copied, enabled=False)
    east.secrets.set_secret(never, "value-dis-new", enabled=False)
    plan = plan_for(config, east, west, [copied, never])
    assert actions(plan) == {copied: "update_attributes", never: "skip"}
    result = execute(config, east, west, plan)
    assert [(o.name, o.action, o.ok) for o in result.outcomes] == [
        (copied, PlanAction.UPDATE_ATTRIBUTES, True)]
    assert west.secrets.list_properties_of_secret_versions(copied).next().enabled is False
    assert pending_work(plan_for(config, east, west, [copied, never])) == {}
