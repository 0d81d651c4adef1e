"""Secrets stay secret end to end: every parameter a secret flows through is @secure() in every
module it passes (so the deployment history never records it), and no output exposes one."""

import re

from support import bicep_model as bm

SECRET_NAME = re.compile(r"(key|secret|password)$", re.I)


def _secret_params_of_main() -> set[str]:
    main = bm.load("main.bicep")
    return {p.name for p in main.declarations("param") if SECRET_NAME.search(p.name)}


def test_the_secrets_main_takes_are_the_fingerprint_and_alert_keys():
    assert _secret_params_of_main() == {"fingerprintKey", "alertWebhookKey"}


def test_every_parameter_carrying_a_secret_is_secure_in_every_module_it_passes():
    flow = bm.tainted_params("main.bicep", _secret_params_of_main())
    for rel, names in flow.items():
        file = bm.load(rel)
        for param in file.declarations("param"):
            if param.name in names:
                assert bm.secure(param), f"{rel}: param {param.name} carries a secret"
    # the analysis follows both secrets to the resources that use them
    assert "modules/functionApp.bicep" in flow and "modules/alerts.bicep" in flow


def test_every_parameter_named_like_a_secret_is_secure():
    for path in bm.bicep_files():
        file = bm.BicepFile(path)
        for param in file.declarations("param"):
            if SECRET_NAME.search(param.name):
                assert bm.secure(param), f"{file.rel}: param {param.name}"


def test_no_output_exposes_a_secret():
    flow = bm.tainted_params("main.bicep", _secret_params_of_main())
    for path in bm.bicep_files():
        file = bm.BicepFile(path)
        carried = flow.get(path.relative_to(bm.BICEP_DIR).as_posix(), set())
        for output in file.declarations("output"):
            assert not SECRET_NAME.search(output.name), f"{file.rel}: output {output.name}"
            leaked = bm.referenced_names(output.value) & carried
            assert not leaked, f"{file.rel}: output {output.name} exposes {leaked}"
            assert not {"listKeys", "listkeys", "listSecrets"} & \
                bm.referenced_names(output.value), f"{file.rel}: output {output.name}"
