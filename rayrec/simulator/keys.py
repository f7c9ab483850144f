"""The two simulators a spec trains: on the first part of the log, and on all of it."""

PART_TRAIN = "train"
PART_EVAL = "eval"
