"""Typed configs: dataclasses with defaults in code, loaded from plain dicts with strict checking.

`from_dict(Config, {...})` refuses unknown keys, missing required keys and values of the wrong type,
naming the key, so a typo in a saved config or a notebook call fails loudly instead of silently using
a default. Ranges live in the type: `epochs: Annotated[int, Range(1)] = 30`. A config that calls
`validate(self)` in `__post_init__` refuses the same values whether it is built by the command line,
from a dict, or directly from Python. Every float must be finite: NaN and infinity are never a setting.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from timesteer.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class Range:
    """Allowed values of a number: `Range(1)` is >= 1, `Range(0, open_min=True)` is > 0,
    `Range(0, 1, open_max=True)` is in [0, 1)."""

    min: float | None = None
    max: float | None = None
    open_min: bool = False
    open_max: bool = False

    def describe(self) -> str:
        parts = []
        if self.min is not None:
            parts.append(f"{'>' if self.open_min else '>='} {_show(self.min)}")
        if self.max is not None:
            parts.append(f"{'<' if self.open_max else '<='} {_show(self.max)}")
        return " and ".join(parts)

    def check(self, value: Any, key: str) -> None:
        if isinstance(value, list | tuple):  # a range on a list applies to each item
            for i, item in enumerate(value):
                self.check(item, f"{key}[{i}]")
            return
        if value is None or isinstance(value, bool) or not isinstance(value, int | float):
            return
        low_bad = self.min is not None and (value <= self.min if self.open_min else value < self.min)
        high_bad = self.max is not None and (value >= self.max if self.open_max else value > self.max)
        if low_bad or high_bad:
            raise ConfigError(f"{key}: expected a value {self.describe()}, got {value!r}")


def _show(bound: float) -> str:
    """A bound as a person reads it: 4,294,967,295 and 65,536, not 4.29497e+09; 1e-06 stays."""
    return f"{int(bound):,}" if float(bound).is_integer() and abs(bound) < 1e15 else f"{bound:g}"


# Shorthands for the ranges configs use most.
Fraction = Range(0, 1)

# Every number has an upper bound too: what a real use could need, and what this kind of machine (tens of
# GiB, tens of cores) can hold. Past them a setting would overflow a library (a seed past 2^63), crash a
# process (100,000 threads), ask for terabytes (a 10^11-unit layer) or run until killed (latency of
# 10^12 ms). Each bound says where it comes from; `tests/test_config_bounds.py` checks that every range
# in every config has one.
Seed = Range(0, 2**32 - 1)  # numpy's legacy seed width, which every library here accepts
Threads = Range(0, 256)  # 0: the default; 256 is the most cores one machine commonly has (2 x 128)
Workers = Threads  # processes or threads beside the main one, one per core at most
Epochs = Range(1, 100_000)  # passes over the data; a million-frame drive at 100,000 epochs is years of CPU
Steps = Range(1, 10**9)  # optimisation steps or frames counted one by one
Frames = Range(1, 100_000)  # frames in one window, sequence or chunk: 100,000 frames is 55 min at 30 fps
Seconds = Range(0, 10**6, open_min=True)  # of driving or video: 11.6 days, longer than any one drive
Hidden = Range(1, 8192)  # units of a layer: an 8,192-unit LSTM holds 2 GiB of weights and optimiser state
PixelsAcross = Range(1, 8192)  # a frame side: 8K video is 7,680 x 4,320
Laps = Range(0, 1000, open_min=True)  # of a track: a CarRacing lap is about a minute
FrameSkip = Range(1, 100)  # physics steps per camera frame: 100 at 50 Hz is one frame in 2 s
Speed = Range(0, 1000)  # m/s or the recording's unit: past any car
Multiplier = Range(0, 1000)  # a weight, factor or scale relative to its default of about 1
Positive = Range(0, 10**6, open_min=True)  # other positive quantities in their own units (m, m/s, s)
NonNegative = Range(0, 10**6)
AtLeastOne = Range(1, 10**6)


def _check(value: Any, hint: Any, key: str) -> Any:
    """Return `value` converted to `hint` where lossless (int to float, list to tuple), else raise."""
    origin = get_origin(hint)
    if hint is Any:
        return value
    if origin is Annotated:
        base, *extras = get_args(hint)
        value = _check(value, base, key)
        for extra in extras:
            if isinstance(extra, Range):
                extra.check(value, key)
        return value
    if origin is Literal:
        if value not in get_args(hint):
            raise ConfigError(f"{key}: expected one of {list(get_args(hint))}, got {value!r}")
        return value
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in get_args(hint):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _check(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: {value!r} matches none of {hint}")
    if origin in (tuple, list):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {type(value).__name__} {value!r}")
        args = get_args(hint)
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [_check(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
        elif origin is tuple and args:
            if len(args) != len(value):
                raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
            items = [_check(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))]
        else:
            item_hint = args[0] if args else Any
            items = [_check(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return dict(value)
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping for {hint.__name__}, got {type(value).__name__}")
        return from_dict(hint, value, where=key)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {type(value).__name__} {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{key}: expected a finite number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {type(value).__name__} {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {type(value).__name__} {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {type(value).__name__} {value!r}")
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise ConfigError(f"{key}: expected {hint.__name__}, got {type(value).__name__} {value!r}")
    return value


def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls, include_extras=True)


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build dataclass `cls` from `data`, refusing unknown keys, missing required keys and wrong types
    (errors name the key)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls} is not a dataclass")
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected an object of keys and values, got {type(data).__name__}")
    hints = _hints(cls)
    fields = [f for f in dataclasses.fields(cls) if f.init]
    names = {f.name for f in fields}
    unknown = sorted(str(k) for k in set(data) - names)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(names))})")
    for f in fields:
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and f.name not in data:
            raise ConfigError(f"{where}: missing key {f.name!r}")
    kwargs = {name: _check(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    return cls(**kwargs)


def validate(obj: Any, where: str = "") -> None:
    """Check every field of dataclass instance `obj` against its type and range, converting in place where
    lossless (int to float, list to tuple). Call it from `__post_init__`; errors name the field."""
    for f in dataclasses.fields(obj):
        key = f"{where}.{f.name}" if where else f.name
        converted = _check(getattr(obj, f.name), _hints(type(obj))[f.name], key)
        if converted is not getattr(obj, f.name):
            object.__setattr__(obj, f.name, converted)


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-ready dict of a dataclass (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(obj)

