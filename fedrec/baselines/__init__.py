"""Classic (non-federated) recommenders behind one ``fit`` / ``score`` interface."""

from fedrec.baselines.base import Recommender
from fedrec.baselines.ease import EASE
from fedrec.baselines.itemknn import ItemKNN
from fedrec.baselines.popularity import Popularity
from fedrec.baselines.scenario_popularity import ScenarioPopularity

__all__ = ["EASE", "ItemKNN", "Popularity", "Recommender", "ScenarioPopularity"]
