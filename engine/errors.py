"""Errors the engine raises to its Python callers (each says what to do)."""

from __future__ import annotations


class EngineError(Exception):
    code = "engine_error"


class InstanceNotFound(EngineError):
    code = "instance_not_found"

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"no orchestration instance {instance_id!r}; check the id or list "
                         "instances with Engine.list_instances()")
        self.instance_id = instance_id


class FunctionNotFound(EngineError):
    code = "function_not_found"

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        super().__init__(f"the app registers no {kind} named {name!r}; known: "
                         f"{', '.join(sorted(known)) or 'none'}")


class InstanceExists(EngineError):
    code = "instance_exists"

    def __init__(self, instance_id: str) -> None:
        super().__init__(f"instance {instance_id!r} is still running; wait for it, terminate "
                         "it, or choose another instance id")


class OrchestrationFailed(EngineError):
    code = "orchestration_failed"


class NonDeterminismError(EngineError):
    """The orchestrator's actions on replay differ from what its history recorded."""

    code = "non_deterministic_orchestration"
