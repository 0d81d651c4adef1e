"""Configuration: both loaders, every validation rule, each error naming its setting."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from kvdr.config.loading import load_app_settings, load_dict, load_toml
from kvdr.config.schema import (
    ApprovalPolicy,
    ConflictPolicy,
    DeletionPolicy,
    KeyPolicy,
    Pacing,
    Policies,
    SoftDeletedTargetPolicy,
)
from kvdr.config.validate import validate_pacing, validate_policies
from kvdr.errors import ConfigError

SUB = "00000000-0000-0000-0000-000000000000"


def toml_error(write_toml, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_toml(write_toml(text))
    return info.value


def settings_error(settings: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_app_settings(settings)
    return info.value


# --- valid configurations -----------------------------------------------------------------------


def test_minimal_toml_loads_with_safe_defaults(write_toml):
    config = load_toml(write_toml())
    assert config.region_names == ("eastus", "westus")
    assert config.topology.initial_primary == "eastus"
    assert config.topology.local_region is None
    assert config.policies == Policies()
    assert config.policies.deletions == DeletionPolicy.IGNORE
    assert config.policies.conflicts == ConflictPolicy.REPORT
    assert config.policies.soft_deleted_target == SoftDeletedTargetPolicy.RECOVER
    assert config.policies.approval == ApprovalPolicy.REQUIRED
    assert config.pacing.writes_per_10s + config.pacing.write_burst <= 300
    assert config.task_hub == "kvdr"
    assert config.tls.ca_bundle is None


def test_full_toml_reads_every_section(write_toml, valid_toml, tmp_path):
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    text = valid_toml.replace('initial_primary = "eastus"',
                              'initial_primary = "eastus"\nlocal_region = "westus"')
    config = load_toml(write_toml(text, extra="""
[policies]
deletions = "mirror"
deletion_grace_period = "1d12h"
deletion_breaker_max_items = 3
deletion_breaker_max_percent = 2.5
keys = "report"
conflicts = "primary-wins"
soft_deleted_target = "report"
approval = "auto"
[pacing]
writes_per_10s = 100
reads_per_10s = 1000
key_creates_per_10s = 5
max_parallel = 2
batch_size = 25
[objectives]
rpo_seconds = 600
rto_seconds = 300
[schedules]
full_sync = "0 */15 * * * *"
drill = "0 0 3 * * Sun"
[tls]
ca_bundle = "ca.pem"
"""))
    assert config.policies == Policies(
        deletions=DeletionPolicy.MIRROR, deletion_grace_period=timedelta(hours=36),
        deletion_breaker_max_items=3, deletion_breaker_max_percent=2.5, keys=KeyPolicy.REPORT,
        conflicts=ConflictPolicy.PRIMARY_WINS,
        soft_deleted_target=SoftDeletedTargetPolicy.REPORT, approval=ApprovalPolicy.AUTO)
    assert config.pacing == Pacing(100, 1000, 5, 2, 25)
    assert (config.objectives.rpo_seconds, config.objectives.rto_seconds) == (600, 300)
    assert config.schedules.full_sync == "0 */15 * * * *"
    assert config.topology.local_region == "westus"
    assert config.tls.ca_bundle == str(tmp_path / "ca.pem")  # relative to the file's folder
    assert config.client_kwargs("eastus") == {"verify_challenge_resource": False,
                                              "connection_verify": str(tmp_path / "ca.pem")}


def test_app_settings_load_the_same_schema(app_settings):
    app_settings.update(KVDR_DELETION_POLICY="mirror", KVDR_PACING_BATCH_SIZE="20",
                        KVDR_DELETION_BREAKER_MAX_PERCENT="2.5",
                        KVDR_DELETION_GRACE_PERIOD="P3D", KVDR_TLS_CA_BUNDLE="")
    config = load_app_settings(app_settings)
    assert config.region("eastus").vault_url == "https://kv-east.vault.azure.net/"
    assert config.topology.local_region == "westus"
    assert config.policies.deletions == DeletionPolicy.MIRROR
    assert config.policies.deletion_grace_period == timedelta(days=3)
    assert config.policies.deletion_breaker_max_percent == 2.5
    assert config.pacing.batch_size == 20
    assert config.tls.ca_bundle is None  # empty app setting = unset
    assert config.client_kwargs("eastus") == {}  # real vaults: full verification


def test_config_never_holds_the_fingerprint_key(app_settings):
    config = load_app_settings(app_settings)
    assert app_settings["KVDR_FINGERPRINT_KEY"] not in repr(config)
    assert app_settings["KVDR_FINGERPRINT_KEY"] not in json.dumps(config.to_dict())
    assert config.fingerprint_key_setting == "KVDR_FINGERPRINT_KEY"


def test_config_round_trips_through_its_dict(write_toml):
    config = load_toml(write_toml(extra='[policies]\ndeletion_grace_period = "90m"'))
    assert load_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert validate_policies(config.policies.to_dict()) == config.policies
    assert validate_pacing(config.pacing.to_dict()) == config.pacing


def test_region_exposes_subscription_group_and_vault_name(write_toml):
    config = load_toml(write_toml())
    east = config.region("eastus")
    assert (east.subscription_id, east.resource_group, east.vault_name) == (SUB, "rg-kvdr",
                                                                            "kv-east")
    assert config.same_subscription("eastus", "westus")
    assert config.same_geography("eastus", "westus")
    assert config.others("eastus") == (config.region("westus"),)


def test_sovereign_cloud_hosts_are_accepted(app_settings):
    regions = json.loads(app_settings["KVDR_REGIONS"])
    regions["eastus"]["vault_url"] = "https://kv-east.vault.usgovcloudapi.net"
    regions["westus"]["vault_url"] = "https://kv-west.vault.azure.cn/"
    app_settings["KVDR_REGIONS"] = json.dumps(regions)
    config = load_app_settings(app_settings)
    assert config.region("eastus").vault_url == "https://kv-east.vault.usgovcloudapi.net/"


def test_resource_provider_is_case_insensitive(write_toml, valid_toml):
    text = valid_toml.replace("Microsoft.KeyVault/vaults", "microsoft.keyvault/VAULTS")
    assert load_toml(write_toml(text)).region("eastus").vault_name == "kv-east"


# --- TOML errors: each names the dotted key -----------------------------------------------------

TOML_ERRORS = [
    # (replace old, with new) applied to valid_toml, expected setting, expected code, message part
    (("[topology]", "[topolgy]"), "topolgy", "config.unknown", "did you mean 'topology'"),
    (('geography = "us"\n\n[regions.westus]', 'geography = "us"\nvault_uri = "x"\n\n'
      '[regions.westus]'), "regions.eastus.vault_uri", "config.unknown", "vault_url"),
    (("[topology]", "[topology]\nprimary = 'eastus'"), "topology.primary", "config.unknown",
     "initial_primary"),
    (('initial_primary = "eastus"', 'initial_primary = "centralus"'),
     "topology.initial_primary", "config.invalid", "not a configured region"),
    (('initial_primary = "eastus"', 'initial_primary = "eastus"\nlocal_region = "west"'),
     "topology.local_region", "config.invalid", "not a configured region"),
    (('initial_primary = "eastus"', ''), "topology.initial_primary", "config.missing",
     "required"),
    (('"https://127.0.0.1:8443/"', '"http://127.0.0.1:8443/"'), "regions.eastus.vault_url",
     "config.invalid", "https"),
    (('"https://127.0.0.1:8443/"', '"https://kv-east.example.com/"'),
     "regions.eastus.vault_url", "config.invalid", "not a Key Vault host"),
    (('"https://127.0.0.1:8443/"', '"https://127.0.0.1:8443/secrets"'),
     "regions.eastus.vault_url", "config.invalid", "vault root"),
    (('"https://127.0.0.1:8444/"', '"https://127.0.0.1:8443"'), "regions.westus.vault_url",
     "config.invalid", "already the vault of region 'eastus'"),
    (("vaults/kv-west", "vaults/kv-east"), "regions.westus.resource_id", "config.invalid",
     "same vault resource"),
    (("/subscriptions/" + SUB + "/resourceGroups/rg-kvdr/providers/Microsoft.KeyVault/vaults/"
      "kv-east", "/subscriptions/abc/vaults/kv-east"), "regions.eastus.resource_id",
     "config.invalid", "not a Key Vault resource ID"),
    (("vaults/kv-east", "vaults/1kv"), "regions.eastus.resource_id", "config.invalid",
     "vault name '1kv' is not valid"),
    (("vaults/kv-east", "vaults/kv--east"), "regions.eastus.resource_id", "config.invalid",
     "vault name"),
    (('geography = "us"\n\n[regions.westus]', 'geography = "U S"\n\n[regions.westus]'),
     "regions.eastus.geography", "config.invalid", "geography"),
    (('geography = "us"\n\n[regions.westus]', '\n[regions.westus]'),
     "regions.eastus.geography", "config.missing", "required"),
    (("[regions.westus]", "[regions.WestUS]"), "regions.WestUS", "config.invalid",
     "lowercase"),
    (('vault_url = "https://127.0.0.1:8443/"', 'vault_url = 8443'), "regions.eastus.vault_url",
     "config.invalid", "expected a string"),
]


@pytest.mark.parametrize(("edit", "setting", "code", "fragment"), TOML_ERRORS,
                         ids=[e[1] + ":" + e[3] for e in TOML_ERRORS])
def test_invalid_toml_names_the_key(write_toml, valid_toml, edit, setting, code, fragment):
    old, new = edit
    assert old in valid_toml
    error = toml_error(write_toml, valid_toml.replace(old, new, 1))
    assert error.setting == setting
    assert error.code == code
    assert fragment in error.message
    assert str(error).startswith(f"[{code}] {setting}:")


SECTION_ERRORS = [
    ("[policies]\ndeletions = 'sometimes'", "policies.deletions", "ignore, mirror"),
    ("[policies]\ndeletions = 'mirorr'", "policies.deletions", "did you mean 'mirror'"),
    ("[policies]\ndeletion_grace_period = 'a week'", "policies.deletion_grace_period",
     "not a duration"),
    ("[policies]\ndeletion_breaker_max_items = -1", "policies.deletion_breaker_max_items",
     "out of range"),
    ("[policies]\ndeletion_breaker_max_items = 'ten'", "policies.deletion_breaker_max_items",
     "whole number"),
    ("[policies]\ndeletion_breaker_max_percent = 0", "policies.deletion_breaker_max_percent",
     "greater than 0"),
    ("[policies]\ndeletion_breaker_max_percent = 101",
     "policies.deletion_breaker_max_percent", "at most 100"),
    ("[policies]\ndeletion_breaker_max_percent = true",
     "policies.deletion_breaker_max_percent", "percentage"),
    ("[policies]\nkeys = 'copy'", "policies.keys", "backup-restore, report"),
    ("[policies]\nconflicts = 'secondary-wins'", "policies.conflicts", "primary-wins"),
    ("[policies]\nsoft_deleted_target = 'purge'", "policies.soft_deleted_target", "recover"),
    ("[policies]\napproval = 'never'", "policies.approval", "required, auto"),
    ("[policies]\ndeletion = 'mirror'", "policies.deletion", "did you mean 'deletions'"),
    ("[pacing]\nwrites_per_10s = 301", "pacing.writes_per_10s", "service limit is 300"),
    ("[pacing]\nwrites_per_10s = 0", "pacing.writes_per_10s", "between 1 and 300"),
    ("[pacing]\nreads_per_10s = 4001", "pacing.reads_per_10s", "4,000"),
    ("[pacing]\nkey_creates_per_10s = 21", "pacing.key_creates_per_10s", "20"),
    ("[pacing]\nmax_parallel = 0", "pacing.max_parallel", "between 1 and 64"),
    ("[pacing]\nbatch_size = 500", "pacing.batch_size", "45 KB"),
    ("[pacing]\nbatch_size = 1.5", "pacing.batch_size", "whole number"),
    ("[objectives]\nrpo_seconds = 0", "objectives.rpo_seconds", "at least 1"),
    ("[objectives]\nrto_seconds = 'fast'", "objectives.rto_seconds", "whole number"),
    ("[objectives]\nrpo = 60", "objectives.rpo", "rpo_seconds"),
    ("[schedules]\nfull_sync = '0 * * * *'", "schedules.full_sync", "needs 6"),
    ("[schedules]\ndrill = '0 0 25 * * *'", "schedules.drill", "hour field"),
    ("[schedules]\ndrill = '01:00:00'", "schedules.drill", "needs 6"),
    ("[tls]\nca_bundle = '/nonexistent/ca.pem'", "tls.ca_bundle", "does not exist"),
    ("[tls]\ncabundle = 'x'", "tls.cabundle", "ca_bundle"),
    ("[policies]\n[policies.extra]\nx = 1", "policies.extra", "unknown key"),
]


@pytest.mark.parametrize(("extra", "setting", "fragment"), SECTION_ERRORS,
                         ids=[e[1] + ":" + e[2] for e in SECTION_ERRORS])
def test_invalid_section_value_names_the_key(write_toml, valid_toml, extra, setting, fragment):
    error = toml_error(write_toml, valid_toml + "\n" + extra)
    assert error.setting == setting
    assert fragment in error.message


def test_top_level_task_hub_is_validated(write_toml, valid_toml):
    error = toml_error(write_toml, 'task_hub = "kv-dr"\n' + valid_toml)
    assert error.setting == "task_hub"
    assert "letters and digits" in error.message


def test_at_least_two_regions_are_required(write_toml, valid_toml):
    text = valid_toml.split("[regions.westus]")[0] + "[topology]\ninitial_primary = 'eastus'"
    error = toml_error(write_toml, text)
    assert error.setting == "regions"
    assert "at least two regions" in error.message


def test_regions_are_required(write_toml):
    error = toml_error(write_toml, "[topology]\ninitial_primary = 'eastus'")
    assert (error.setting, error.code) == ("regions", "config.missing")


def test_azure_vault_name_must_match_resource_id(write_toml, valid_toml):
    text = (valid_toml.replace("https://127.0.0.1:8443/", "https://kv-east.vault.azure.net/")
            .replace("https://127.0.0.1:8444/", "https://kv-wesst.vault.azure.net/"))
    error = toml_error(write_toml, text)
    assert error.setting == "regions.westus.resource_id"
    assert "'kv-west'" in error.message and "'kv-wesst'" in error.message


def test_ca_bundle_is_refused_when_any_vault_is_not_loopback(write_toml, valid_toml, tmp_path):
    (tmp_path / "ca.pem").write_text("pem")
    text = (valid_toml.replace("https://127.0.0.1:8444/", "https://kv-west.vault.azure.net/")
            + "\n[tls]\nca_bundle = 'ca.pem'")
    error = toml_error(write_toml, text)
    assert error.setting == "tls.ca_bundle"
    assert "loopback" in error.message and "westus" in error.message


def test_missing_file_and_bad_toml_are_config_errors(tmp_path, write_toml):
    with pytest.raises(ConfigError) as info:
        load_toml(tmp_path / "absent.toml")
    assert info.value.code == "config.missing"
    assert info.value.setting.endswith("absent.toml")
    error = toml_error(write_toml, "[regions\n")
    assert "not valid TOML" in error.message


def test_a_directory_given_as_the_configuration_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_toml(tmp_path)
    assert info.value.setting == str(tmp_path)
    assert "is a directory" in info.value.message


def test_a_configuration_file_that_is_not_utf8_is_a_config_error(tmp_path):
    path = tmp_path / "kvdr.toml"
    path.write_bytes('[topology]\ninitial_primary = "\u00e9ast"\n'.encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert info.value.code == "config.invalid"
    assert "UTF-8" in info.value.message and "line 2" in info.value.message



# --- app-setting errors: each names the app setting ---------------------------------------------


@pytest.mark.parametrize("name", ["KVDR_REGIONS", "KVDR_INITIAL_PRIMARY", "KVDR_LOCAL_REGION",
                                  "KVDR_TASK_HUB", "KVDR_FINGERPRINT_KEY",
                                  "KVDR_FULL_SYNC_SCHEDULE", "KVDR_DRILL_SCHEDULE"])
def test_required_app_setting_missing_is_named(app_settings, name):
    del app_settings[name]
    error = settings_error(app_settings)
    assert (error.setting, error.code) == (name, "config.missing")


def test_empty_required_app_setting_counts_as_missing(app_settings):
    app_settings["KVDR_LOCAL_REGION"] = "  "
    assert settings_error(app_settings).setting == "KVDR_LOCAL_REGION"


def test_unknown_kvdr_app_setting_is_rejected_with_a_suggestion(app_settings):
    app_settings["KVDR_DELETION_POLICIY"] = "mirror"
    error = settings_error(app_settings)
    assert (error.setting, error.code) == ("KVDR_DELETION_POLICIY", "config.unknown")
    assert "KVDR_DELETION_POLICY" in error.message


def test_unknown_kvdr_app_setting_is_tolerated_when_not_strict(app_settings):
    app_settings["KVDR_SOMETHING_ELSE"] = "x"
    assert load_app_settings(app_settings, strict=False).region_names == ("eastus", "westus")


def test_short_fingerprint_key_is_rejected(app_settings):
    app_settings["KVDR_FINGERPRINT_KEY"] = "short"
    error = settings_error(app_settings)
    assert error.setting == "KVDR_FINGERPRINT_KEY"
    assert "32" in error.message and "short" not in error.message


def test_regions_json_errors_name_the_setting_and_path(app_settings, resource_id, other_sub):
    app_settings["KVDR_REGIONS"] = "{not json"
    assert settings_error(app_settings).setting == "KVDR_REGIONS"
    regions = json.loads(
        json.dumps({"eastus": {"vault_url": "https://kv-east.vault.azure.net/",
                               "resource_id": resource_id("kv-east"), "geography": "us"},
                    "westus": {"vault_url": "https://kv-west.vault.azure.net/",
                               "resource_id": resource_id("kv-west", other_sub),
                               "geography": "us", "tags": {}}}))
    app_settings["KVDR_REGIONS"] = json.dumps(regions)
    error = settings_error(app_settings)
    assert (error.setting, error.code) == ("KVDR_REGIONS.westus.tags", "config.unknown")
    app_settings["KVDR_REGIONS"] = json.dumps(["eastus", "westus"])
    assert settings_error(app_settings).setting == "KVDR_REGIONS"


@pytest.mark.parametrize(("name", "value", "fragment"), [
    ("KVDR_INITIAL_PRIMARY", "centralus", "not a configured region"),
    ("KVDR_LOCAL_REGION", "eastuss", "did you mean 'eastus'"),
    ("KVDR_DELETION_POLICY", "always", "ignore, mirror"),
    ("KVDR_DELETION_GRACE_PERIOD", "soon", "not a duration"),
    ("KVDR_DELETION_BREAKER_MAX_ITEMS", "-3", "whole number"),
    ("KVDR_DELETION_BREAKER_MAX_PERCENT", "abc", "percentage"),
    ("KVDR_KEY_POLICY", "copy", "backup-restore"),
    ("KVDR_CONFLICT_POLICY", "last-wins", "primary-wins"),
    ("KVDR_SOFT_DELETED_TARGET_POLICY", "purge", "recover"),
    ("KVDR_APPROVAL_POLICY", "maybe", "required"),
    ("KVDR_PACING_WRITES_PER_10S", "1000", "service limit"),
    ("KVDR_PACING_READS_PER_10S", "0", "between 1"),
    ("KVDR_PACING_KEY_CREATES_PER_10S", "50", "20"),
    ("KVDR_PACING_MAX_PARALLEL", "many", "whole number"),
    ("KVDR_PACING_BATCH_SIZE", "0", "between 1"),
    ("KVDR_RPO_SECONDS", "0", "at least 1"),
    ("KVDR_RTO_SECONDS", "1.5", "whole number"),
    ("KVDR_FULL_SYNC_SCHEDULE", "@hourly", "needs 6"),
    ("KVDR_DRILL_SCHEDULE", "0 0 4 32 * *", "day field"),
    ("KVDR_TASK_HUB", "kv", "task hub"),
    ("KVDR_TLS_CA_BUNDLE", "/tmp/ca.pem", "loopback"),
])
def test_invalid_app_setting_is_named(app_settings, name, value, fragment):
    app_settings[name] = value
    error = settings_error(app_settings)
    assert error.setting == name
    assert fragment in error.message


def test_app_setting_region_errors_name_the_json_path(app_settings):
    regions = json.loads(app_settings["KVDR_REGIONS"])
    regions["westus"]["vault_url"] = "https://kv-west.vault.azure.net:8443/"
    app_settings["KVDR_REGIONS"] = json.dumps(regions)
    error = settings_error(app_settings)
    assert error.setting == "KVDR_REGIONS.westus.vault_url"
    assert "443" in error.message


def test_config_error_serialises_code_setting_and_message():
    error = ConfigError("KVDR_RPO_SECONDS", "must be positive")
    assert error.to_dict() == {"code": "config.invalid", "setting": "KVDR_RPO_SECONDS",
                               "message": "KVDR_RPO_SECONDS: must be positive"}
