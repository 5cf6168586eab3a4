"""Evaluation: the full-ranking slice harness and the baselines runner."""

from fedrec.evaluation.harness import (
    Scorer,
    evaluate_cases,
    evaluate_split,
    history_matrix,
    matrix_scorer,
    train_matrix,
)

__all__ = [
    "Scorer",
    "evaluate_cases",
    "evaluate_split",
    "history_matrix",
    "matrix_scorer",
    "train_matrix",
]
