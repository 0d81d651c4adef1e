"""The template sets exactly the KVDR_* app settings the code reads: every name in the
canonical list (kvdr.config.settings.SETTINGS) and every
KVDR_* name the code or host.json mentions; none that nothing reads."""

import re

from kvdr.config.settings import CLI_VARIABLES, SETTINGS
from support import bicep_model as bm

CODE_PATHS = ["kvdr", "orchestrators", "activities", "triggers", "function_app.py", "host.json"]
# a whole setting name: not a prefix such as "KVDR_" or "KVDR_REGION_<n>_*" in prose
SETTING_NAME = re.compile(r"\bKVDR_[A-Z0-9_]*[A-Z0-9](?![A-Za-z0-9_<*])")


def _code_files():
    for rel in CODE_PATHS:
        path = bm.REPO / rel
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in path.rglob("*.py") if "__pycache__" not in p.parts)


def names_the_code_reads() -> set[str]:
    found = {s.name for s in SETTINGS}
    for path in _code_files():
        found |= set(SETTING_NAME.findall(path.read_text()))
    return found - set(CLI_VARIABLES)  # the command line's own


def names_the_template_sets() -> set[str]:
    names = set()
    for path in bm.bicep_files():
        file = bm.BicepFile(path)
        for prop in file.walk("object_property"):
            key = bm.key_of(prop)
            if key.startswith("KVDR_"):
                names.add(key.split("__")[0])  # identity-based connection prefix
    return names


def test_code_reads_the_canonical_settings_and_host_json_the_task_hub():
    names = names_the_code_reads()
    assert {"KVDR_REGIONS", "KVDR_INITIAL_PRIMARY", "KVDR_LOCAL_REGION", "KVDR_TASK_HUB"} <= names
    assert "%KVDR_TASK_HUB%" in (bm.REPO / "host.json").read_text()


def test_template_sets_every_setting_the_code_reads_and_nothing_else():
    code, template = names_the_code_reads(), names_the_template_sets()
    assert code - template == set(), f"read by the code but never set: {sorted(code - template)}"
    assert template - code == set(), f"set but read by nothing: {sorted(template - code)}"


def test_settings_reach_the_app_with_the_local_region_per_region():
    main = bm.load("main.bicep")
    (region,) = main.modules("modules/region.bicep")
    passed = bm.text(region.get("params.kvdrSettings"))
    assert passed.startswith("union(kvdrSettings,") and "KVDR_LOCAL_REGION: r.location" in passed
    region_file = bm.load("modules/region.bicep")
    (app,) = region_file.modules("functionApp.bicep")
    assert bm.text(app.get("params.kvdrSettings")) == "kvdrSettings"
    fa = bm.load("modules/functionApp.bicep")
    (config,) = fa.resources("Microsoft.Web/sites/config")
    assert bm.text(config.get("properties")).startswith("union(kvdrSettings,")


def test_regions_setting_carries_vault_url_resource_id_and_geography_per_region():
    main = bm.load("main.bicep")
    regions = bm.text(main.named("var", "kvdrRegions").value)
    for field in ("vault_url:", "resource_id:", "geography:"):
        assert field in regions
    assert "environment().suffixes.keyvaultDns" in regions
    assert bm.text(bm.prop(main.named("var", "kvdrSettings").value, "KVDR_REGIONS")) == \
        "string(kvdrRegions)"


def test_fingerprint_key_is_a_secure_parameter_and_never_an_output():
    main = bm.load("main.bicep")
    key = main.named("param", "fingerprintKey")
    assert "@secure()" in key.decorators
    for output in main.declarations("output"):
        assert "fingerprintKey" not in bm.text(output.node)
