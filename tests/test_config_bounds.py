"""Every number a user can set has an upper bound as well as a lower one, checked where ranges live
(`timesteer.config.Range`): a value past it is one line naming the key, never an overflow, a crash, an
allocation of terabytes or a run that never ends. Hypothesis walks every bound of every config."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import pkgutil
import types
import typing
from typing import Annotated, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import timesteer
from timesteer.config import Range, _check
from timesteer.errors import ConfigError


def _configs() -> list[type]:
    """The dataclasses a user sets: those checked by `validate` when built (results and internal records are
    not), and any other whose fields carry ranges."""
    found = {}
    for info in pkgutil.walk_packages(timesteer.__path__, "timesteer."):
        if info.name.endswith(("duckietown_worker", "__main__")):
            continue  # runs in the simulator's own environment / runs the CLI
        module = importlib.import_module(info.name)
        for obj in vars(module).values():
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__.startswith("timesteer.") \
                    and (_validated(obj) or any(_ranges(h) for h in get_type_hints(obj, include_extras=True).values())):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return [found[k] for k in sorted(found)]


def _validated(cls: type) -> bool:
    post = getattr(cls, "__post_init__", None)
    try:
        return post is not None and "validate(" in inspect.getsource(post)
    except (OSError, TypeError):
        return False


def _numbers(hint) -> bool:
    """Whether a field of this type holds a number (alone, optional, or in a tuple or list)."""
    if hint in (int, float):
        return True
    origin = get_origin(hint)
    if origin is Annotated:
        return _numbers(get_args(hint)[0])
    if origin in (typing.Union, types.UnionType, tuple, list):
        return any(_numbers(a) for a in get_args(hint) if a is not Ellipsis)
    return False


def _ranges(hint) -> list[Range]:
    return [a for a in get_args(hint)[1:] if isinstance(a, Range)] if get_origin(hint) is Annotated else []


FIELDS = [(cls, f.name, get_type_hints(cls, include_extras=True)[f.name])
          for cls in _configs() for f in dataclasses.fields(cls)
          if _numbers(get_type_hints(cls, include_extras=True)[f.name])]
BOUNDED = [(cls, name, hint, r) for cls, name, hint in FIELDS for r in _ranges(hint)]


def test_the_walk_finds_the_configs_users_set():
    names = {cls.__name__ for cls, _, _ in FIELDS}
    assert {"TrainConfig", "Conditions", "StreamBenchConfig", "ExplainConfig", "ImportConfig", "DriveEntry"} <= names
    assert len(FIELDS) > 60


@pytest.mark.parametrize(("cls", "name", "hint"), FIELDS, ids=[f"{c.__name__}.{n}" for c, n, _ in FIELDS])
def test_every_number_has_a_range_with_both_ends(cls, name, hint):
    ranges = _ranges(hint)
    assert ranges, f"{cls.__name__}.{name}: a number without a Range"
    assert all(r.min is not None and r.max is not None for r in ranges), f"{cls.__name__}.{name}: {ranges}"


def _plain(hint):
    """The number type inside a hint: int or float."""
    for a in get_args(hint) if get_origin(hint) else (hint,):
        if a in (int, float):
            return a
        if get_origin(a) is not None or a in (tuple, list):
            inner = _plain(a)
            if inner is not None:
                return inner
    return None


def _shape(value, hint):
    """`value` as the field's hint holds it (an item of a tuple field goes in a tuple of the right length)."""
    base = get_args(hint)[0] if get_origin(hint) is Annotated else hint
    options = [a for a in get_args(base) if a is not type(None)] if get_origin(base) in (typing.Union,
                                                                                        types.UnionType) else [base]
    for option in options:
        if get_origin(option) is list:
            return [value]
        if get_origin(option) is tuple:
            args = get_args(option)
            return tuple([value] * (1 if len(args) == 2 and args[1] is Ellipsis else len(args)))
    return value


@pytest.mark.parametrize(("cls", "name", "hint", "bound"), BOUNDED,
                         ids=[f"{c.__name__}.{n}" for c, n, _, _ in BOUNDED])
@settings(max_examples=15, deadline=None, derandomize=True)
@given(excess=st.one_of(st.floats(min_value=1e-9, max_value=1e300), st.integers(1, 10**30)))
def test_a_value_past_the_top_is_refused_naming_the_key(cls, name, hint, bound, excess):
    kind = _plain(hint)
    top = bound.max
    over = top + excess if kind is float else math.floor(top) + max(1, int(min(excess, 10**30)))
    if kind is float and over == top:
        over = math.nextafter(top, math.inf)
    with pytest.raises(ConfigError, match=name):
        _check(_shape(kind(over), hint), hint, name)
    at_top = math.nextafter(top, -math.inf) if bound.open_max else top
    _check(_shape(kind(at_top) if kind is float else math.floor(at_top), hint), hint, name)  # the top itself is fine
