"""Training: time-block splits, truncated BPTT with carried state, checkpoints, resume, torchrun."""

from timesteer.train.checkpoint import load_checkpoint, model_from_payload, save_checkpoint
from timesteer.train.config import TrainConfig
from timesteer.train.loop import TrainResult, load_run_config, train
from timesteer.train.predict import predict_spans

__all__ = ["TrainConfig", "TrainResult", "load_checkpoint", "load_run_config", "model_from_payload",
           "predict_spans", "save_checkpoint", "train"]
