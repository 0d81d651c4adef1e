"""The DFApp indexes the way the Functions host indexes it, with sane bindings."""

import function_app

VALID_TRIGGERS = {"httpTrigger", "orchestrationTrigger", "activityTrigger", "eventGridTrigger",
                  "timerTrigger", "queueTrigger", "entityTrigger"}


# get_functions() indexes once per app (a second call reports every name as a duplicate, as
# the host would never call it twice), so index once for the module.
FUNCTIONS = function_app.app.get_functions()


def _functions():
    return {f.get_function_name(): f for f in FUNCTIONS}


def test_every_function_has_exactly_one_known_trigger():
    functions = _functions()
    assert functions, "the DFApp registers no function"
    for name, fn in functions.items():
        bindings = fn.get_bindings_dict()["bindings"]
        triggers = [b for b in bindings if str(b["type"]).endswith("Trigger")]
        assert len(triggers) == 1, f"{name} has triggers {triggers}"
        assert triggers[0]["type"] in VALID_TRIGGERS, name


def test_http_functions_require_a_function_key():
    for name, fn in _functions().items():
        for b in fn.get_bindings_dict()["bindings"]:
            if b["type"] == "httpTrigger":
                assert str(b["authLevel"].value if hasattr(b["authLevel"], "value")
                           else b["authLevel"]).lower() == "function", name


def test_function_names_are_unique_across_blueprints():
    names = [f.get_function_name() for f in FUNCTIONS]
    assert len(names) == len(set(names))
