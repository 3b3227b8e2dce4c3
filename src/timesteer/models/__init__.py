"""Models: per-frame encoders, temporal heads, and a registry. Knows nothing of recordings.

    from timesteer.models import create_model, list_models
    model = create_model("cnn_gru", in_shape=(3, 66, 200), hidden=64)
    steering, state = model(frames)  # frames (B, T, C, H, W)
"""

from timesteer.models import zoo as _zoo  # noqa: F401  (registers the models)
from timesteer.models.base import State, SteeringModel
from timesteer.models.registry import create_model, describe_models, list_models, model_config

__all__ = ["State", "SteeringModel", "create_model", "describe_models", "list_models", "model_config"]
