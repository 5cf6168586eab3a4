"""Local training of the two-tower recommender (centralized or on one client)."""

from fedrec.training.loss import sampled_softmax_loss
from fedrec.training.rows import TrainingRows, build_rows
from fedrec.training.trainer import EpochStats, train_epoch

__all__ = ["EpochStats", "TrainingRows", "build_rows", "sampled_softmax_loss", "train_epoch"]
