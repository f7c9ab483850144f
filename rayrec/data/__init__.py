"""The data layer: readers for every seed dataset, one typed log, splits, synthetic data."""

from rayrec.data.datasets import load_dataset, log_stats, prepare_dataset
from rayrec.data.readers.base import dataset_names, get_reader
from rayrec.data.schema import InteractionLog

__all__ = [
    "InteractionLog",
    "dataset_names",
    "get_reader",
    "load_dataset",
    "log_stats",
    "prepare_dataset",
]
