"""Model registry (the timm idea): `@register_model` on small factories, `create_model(name, ...)`.

Each factory takes the input shape, the output names and a typed config dataclass; `create_model`
checks the config (unknown keys and wrong types are errors naming the key) and records it on the
model, so a checkpoint can rebuild the same model from its name and config alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from timesteer.config import from_dict, to_dict
from timesteer.errors import ConfigError
from timesteer.models.base import SteeringModel


@dataclass
class Entry:
    factory: Callable[..., SteeringModel]
    config_cls: type
    description: str


_REGISTRY: dict[str, Entry] = {}


def register_model(name: str, config_cls: type, description: str):
    def wrap(factory: Callable[..., SteeringModel]) -> Callable[..., SteeringModel]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        _REGISTRY[name] = Entry(factory, config_cls, description)
        return factory

    return wrap


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def describe_models() -> dict[str, str]:
    return {name: _REGISTRY[name].description for name in list_models()}


def model_config(name: str, config: dict[str, Any] | None = None) -> Any:
    """The checked config dataclass for `name` (defaults filled in)."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; registered: {', '.join(list_models())}")
    return from_dict(_REGISTRY[name].config_cls, config or {}, where=f"model {name}")


def create_model(name: str, in_shape: Sequence[int] = (3, 66, 200), outputs: Sequence[str] = ("steering",),
                 **config: Any) -> SteeringModel:
    cfg = model_config(name, config)
    if not outputs or outputs[0] != "steering":
        raise ConfigError(f"outputs must start with 'steering', got {list(outputs)}")
    model = _REGISTRY[name].factory(tuple(in_shape), tuple(outputs), cfg)
    model.name = name
    model.config = to_dict(cfg)
    return model
