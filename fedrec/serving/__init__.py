"""Serving the released model: bundles, the recommender, explanations, the HTTP app."""

from fedrec.serving.recommender import Recommendation, Recommended, Recommender, ServingError

__all__ = ["Recommendation", "Recommended", "Recommender", "ServingError"]
