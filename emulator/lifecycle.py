"""The soft-delete lifecycle every object kind shares: delete, get/list deleted, recover, purge."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from emulator.context import Ctx, check_name, deleted_fields, page
from emulator.errors import conflict, deleted_not_found, noun
from emulator.store import Item

Render = Callable[[Ctx, Item], dict[str, Any]]
Result = tuple[int, dict[str, Any]]


def with_deleted_fields(ctx: Ctx, kind: str, item: Item, render: Render) -> dict[str, Any]:
    out = render(ctx, item)
    out.update(deleted_fields(ctx, f"deleted{kind}", item))
    return out


def get_deleted(ctx: Ctx, kind: str, name: str, render: Render) -> Result:
    with ctx.store.lock:
        item = ctx.store.get_deleted(kind, check_name(name))
        if item is None:
            raise deleted_not_found(kind, name)
        return 200, with_deleted_fields(ctx, kind, item, render)


def list_deleted(ctx: Ctx, kind: str, render: Render) -> Result:
    with ctx.store.lock:
        items = ctx.store.sorted_deleted(kind)
        return 200, page(
            ctx, f"deleted{kind}", items, lambda i: with_deleted_fields(ctx, kind, i, render)
        )


def recover(ctx: Ctx, kind: str, name: str) -> Item:
    """Move a soft-deleted object back; the caller holds the store lock."""
    if ctx.store.get_deleted(kind, check_name(name)) is None:
        raise deleted_not_found(kind, name)
    if ctx.store.get(kind, name) is not None:
        raise conflict(f"A {noun(kind)} named {name} already exists.")
    return ctx.store.recover(kind, name)


def purge(ctx: Ctx, kind: str, name: str) -> None:
    """Remove a soft-deleted object for good; the caller holds the store lock."""
    if ctx.store.get_deleted(kind, check_name(name)) is None:
        raise deleted_not_found(kind, name)
    ctx.store.purge(kind, name)
