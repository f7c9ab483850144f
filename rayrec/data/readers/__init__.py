"""Dataset readers; importing this package registers all of them."""

from rayrec.data.readers import (
    kuairand,  # noqa: F401
    kuairec,  # noqa: F401
    movielens,  # noqa: F401
    retailrocket,  # noqa: F401
    rl4rs,  # noqa: F401
    yelp,  # noqa: F401
    yoochoose,  # noqa: F401
)
from rayrec.data.readers.base import READERS, DatasetReader, get_reader, register

__all__ = ["READERS", "DatasetReader", "get_reader", "register"]
