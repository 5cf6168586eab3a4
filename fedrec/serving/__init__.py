"""Serving the released model: bundles, the recommender, explanations, the HTTP app."""

from fedrec.serving.new_items import ServingError
from fedrec.serving.recommender import Recommendation, Recommended, Recommender

__all__ = ["Recommendation", "Recommended", "Recommender", "ServingError"]
