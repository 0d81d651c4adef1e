"""Validation of NCRONTAB expressions as Azure Functions timer triggers read them.

Six fields: ``{second} {minute} {hour} {day} {month} {day-of-week}``. Each field is ``*``, a
number, a range ``a-b``, a step ``*/n`` or ``a-b/n``, or a comma list of those; months and days
may be named (``Jan``, ``Mon``). The 5-field form and the ``hh:mm:ss`` TimeSpan form are
rejected: the first is ambiguous, the second is not valid on the Consumption plan.
"""

from __future__ import annotations

_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}
_DAYS = {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}

# (name, low, high, names)
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)


def validate_ncrontab(expression: str) -> str:
    """Return the expression with whitespace normalised, or raise ValueError saying what is
    wrong (which field, which part)."""
    if not isinstance(expression, str):
        raise ValueError("expected an NCRONTAB expression string such as '0 0 * * * *'")
    fields = expression.split()
    if len(fields) != len(_FIELDS):
        raise ValueError(
            f"{expression!r} has {len(fields)} fields; NCRONTAB needs 6: "
            "'{second} {minute} {hour} {day} {month} {day-of-week}', e.g. '0 0 * * * *' "
            "for every hour")
    for text, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in text.split(","):
            _check_part(part, name, low, high, names)
    return " ".join(fields)


def _check_part(part: str, name: str, low: int, high: int, names: dict[str, int]) -> None:
    base, _, step = part.partition("/")
    if step and (not step.isdigit() or int(step) == 0):
        raise ValueError(f"{name} field: step {step!r} must be a positive whole number")
    if base == "*":
        return
    start_text, dash, end_text = base.partition("-")
    start = _value(start_text, name, low, high, names)
    if dash:
        end = _value(end_text, name, low, high, names)
        if end < start:
            raise ValueError(f"{name} field: range {base!r} runs backwards")


def _value(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    if not text.isdigit():
        raise ValueError(f"{name} field: {text!r} is not a number between {low} and {high}")
    number = int(text)
    if not low <= number <= high:
        raise ValueError(f"{name} field: {number} is outside {low}-{high}")
    return number
