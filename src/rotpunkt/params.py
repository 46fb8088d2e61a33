"""Parameter declarations: one place gives units, ranges and defaults to the CLI, UI and validation.

A stage's params are a frozen dataclass whose fields are made with :func:`param`::

    @dataclass(frozen=True)
    class ExposureParams:
        ev: float = param(0.0, unit="EV", range=(-5, 5), doc="exposure bias")

:func:`validate` checks an instance against its declaration and raises ``InvalidParams``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .errors import InvalidParams


def param(
    default: Any,
    *,
    unit: str = "",
    range: tuple[float, float] | None = None,  # noqa: A002 - the natural name
    choices: tuple[Any, ...] | None = None,
    doc: str = "",
) -> Any:
    """Declare a params field with its unit, closed range or allowed choices, and a one-line doc."""
    meta = {"unit": unit, "range": range, "choices": choices, "doc": doc}
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed in frozen params")
    return dataclasses.field(default=default, metadata=meta)


def describe(params_cls: type) -> list[dict[str, Any]]:
    """List each field of a params dataclass with name, type, default, unit, range, choices, doc."""
    out = []
    for f in dataclasses.fields(params_cls):
        out.append(
            {
                "name": f.name,
                "type": f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type)),
                "default": f.default,
                "unit": f.metadata.get("unit", ""),
                "range": f.metadata.get("range"),
                "choices": f.metadata.get("choices"),
                "doc": f.metadata.get("doc", ""),
            }
        )
    return out


def validate(params: Any) -> Any:
    """Check every declared range and choice of ``params``; return it unchanged or raise InvalidParams."""
    if not dataclasses.is_dataclass(params):
        raise InvalidParams(f"expected a params dataclass, got {type(params).__name__}")
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        choices = f.metadata.get("choices")
        rng = f.metadata.get("range")
        name = f"{type(params).__name__}.{f.name}"
        if choices is not None and value not in choices:
            raise InvalidParams(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")
        if rng is not None:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidParams(f"{name} must be a number in [{rng[0]}, {rng[1]}]; got {value!r}")
            if math.isnan(value) or not (rng[0] <= value <= rng[1]):
                raise InvalidParams(f"{name} must be in [{rng[0]}, {rng[1]}]; got {value!r}")
    return params


def replace(params: Any, changes: dict[str, Any], what: str = "parameter") -> Any:
    """``dataclasses.replace(params, **changes)``, with an unknown field raising InvalidParams
    ("unknown <what>: ...") instead of a TypeError. Does not validate ranges (call :func:`validate`)."""
    if not changes:
        return params
    try:
        return dataclasses.replace(params, **changes)
    except TypeError as exc:
        raise InvalidParams(f"unknown {what}: {exc}") from None
