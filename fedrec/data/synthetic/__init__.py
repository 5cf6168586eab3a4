"""The built-in synthetic multi-scenario dataset: the generator and its word lists."""

from fedrec.data.synthetic.generator import SyntheticTruth, generate_synthetic, oracle_scores
from fedrec.data.synthetic.vocabulary import SYNTHETIC_SCENARIOS, SYNTHETIC_THEMES

__all__ = [
    "SYNTHETIC_SCENARIOS",
    "SYNTHETIC_THEMES",
    "SyntheticTruth",
    "generate_synthetic",
    "oracle_scores",
]
