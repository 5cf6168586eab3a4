"""Offline evaluation: full-ranking accuracy metrics, beyond-accuracy metrics, the ranking core."""

from fedrec.metrics.base import ListMetric, RankMetric, UndefinedMetricWarning
from fedrec.metrics.coverage import Coverage
from fedrec.metrics.diversity import IntraListDiversity
from fedrec.metrics.hit_rate import HitRate
from fedrec.metrics.mrr import MRR
from fedrec.metrics.ndcg import NDCG
from fedrec.metrics.novelty import Novelty
from fedrec.metrics.ranking import Ranking, evaluate_scores, rank_items
from fedrec.metrics.recall import Recall
from fedrec.metrics.tie_break import tie_break_keys

__all__ = [
    "MRR",
    "NDCG",
    "Coverage",
    "HitRate",
    "IntraListDiversity",
    "ListMetric",
    "Novelty",
    "RankMetric",
    "Ranking",
    "Recall",
    "UndefinedMetricWarning",
    "evaluate_scores",
    "rank_items",
    "tie_break_keys",
]
