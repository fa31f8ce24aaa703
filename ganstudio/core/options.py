"""Option fields: a dataclass field with the metadata the CLI, the TOML writer and the Setup form read.

The common training config and every family's options are frozen dataclasses of such fields, so one
coercion rule, one tooltip source and one "changeable while training" flag serve them all.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import field, fields
from typing import Any

from ganstudio.core.errors import ConfigError


def option(default, group: str, why: str, choices: str | tuple = "", minimum: float | None = None, live: bool = False,
           resume: bool = False, below: float | None = None):
    """A field with its one-sentence `why` (the tooltip and the TOML comment).

    `choices` is a tuple of values or the name of a registry ("loss", ...) that lists them;
    `minimum` is the smallest valid value and `below` a bound values must stay under (Adam's β < 1);
    `live` fields may change between steps of a running loop (and on resume); `resume` ones only when
    a run is resumed.
    """
    return field(default=default, metadata={"group": group, "why": why, "choices": choices, "min": minimum, "below": below,
                                            "live": live, "resume": resume or live})


def info(cls) -> dict[str, dict]:
    """Per field of an options dataclass: type, default, group, why, choices, min, live."""
    return {f.name: {"type": f.type, "default": f.default, **f.metadata} for f in fields(cls) if f.metadata}


def coerce(name: str, value: Any, default: Any) -> Any:
    """Convert a TOML value or a --set string to the field's type, or raise ConfigError."""
    kind = type(default)
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if kind is bool:
            low = text.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{name}: expected true/false, got {value!r}")
        try:
            number = float(text)
        except ValueError:
            raise ConfigError(f"{name}: expected a number, got {value!r}") from None
        if kind is float:
            return number
        if not float(number).is_integer():  # "1e4" is a fine step count, "2.5" is not
            raise ConfigError(f"{name}: expected an integer, got {value!r}")
        return int(number)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{name}: expected true/false, got {value!r}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ConfigError(f"{name}: expected an integer, got {value!r}")
    if not isinstance(value, kind):
        raise ConfigError(f"{name}: expected {kind.__name__}, got {value!r}")
    return value


def check_fields(obj, registries: dict[str, Any] | None = None) -> None:
    """Choices, minimums and finiteness of every field of `obj`; ConfigError names the field."""
    registries = registries or {}
    for name, meta in info(type(obj)).items():
        value = getattr(obj, name)
        choices = meta["choices"]
        if isinstance(choices, str) and choices:
            reg = registries.get(choices)
            if reg is not None and value not in reg:
                raise ConfigError(f"{name}: unknown {value!r}; valid: {', '.join(reg.names())}")
        elif choices and value not in choices:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(map(str, choices))}")
        low, high = meta["min"], meta["below"]
        if (low is not None and value < low) or (high is not None and not value < high):
            span = (f"in [{low}, {high})" if low is not None else f"below {high}") if high is not None else f"≥ {low}"
            raise ConfigError(f"{name}: must be {span}, got {value}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{name}: must be a finite number, got {value}")


def replace_checked(obj, changes: dict[str, Any], owner: str):
    """`obj` with `changes` coerced to its fields' types; an unknown key lists the valid ones."""
    known = {f.name: f.default for f in fields(obj)}
    out = {}
    for key, value in changes.items():
        if key not in known:
            raise ConfigError(f"{owner} has no option {key!r}; valid: {', '.join(known)}")
        out[key] = coerce(key, value, known[key])
    return dataclasses.replace(obj, **out)
