"""Datasets: the schema, the loaders, validation and splits."""

from fedrec.data.loading import load_dataset, prepare_split
from fedrec.data.schema import RecDataset
from fedrec.data.split import Cases, Split, kcore_filter, split_dataset

__all__ = [
    "Cases",
    "RecDataset",
    "Split",
    "kcore_filter",
    "load_dataset",
    "prepare_split",
    "split_dataset",
]
