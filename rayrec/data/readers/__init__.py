"""Dataset readers; importing this package registers all of them."""

from rayrec.data.readers import movielens  # noqa: F401
from rayrec.data.readers.base import READERS, DatasetReader, get_reader, register

__all__ = ["READERS", "DatasetReader", "get_reader", "register"]
