"""Key names of the logged-session learners (SQN, its actor-critic variant, plain CE,
CAL4Rec): the loss terms they log and the metrics the offline loop reports."""

from __future__ import annotations

# loss terms, as logged
CE_LOSS = "L_CE"  # cross-entropy of the CE head on the logged next item (L_ssl in CAL4Rec)
TD_LOSS = "L_TD"  # mean 0.5·td² of the double-Q head
SAC_WEIGHT = "sac_weight_mean"  # mean detached Q(s, a) weighting the CE (SAC only)
Q_TAKEN_MEAN = "q_taken_mean"  # mean Q(s, a) of the logged actions
TOTAL_LOSS = "total_loss"
NONFINITE_SKIPS = "nonfinite_updates_skipped"  # updates whose loss was NaN/inf (not applied)

# metrics of the offline loop (per iteration)
NUM_UPDATES = "num_updates_lifetime"
EPOCHS = "epochs"  # passes over the train rows so far
TRAIN_ROWS = "num_train_rows"
VALID_PREFIX = "valid_"  # valid_<metric>: this iteration's validation figure
BEST_VALID_PREFIX = "best_valid_"  # best_valid_<metric>: the best of all periodic validations
SELECTED_ITERATION = "selected_iteration"  # the iteration whose weights are selected
SELECTED_VALUE = "selected_value"  # their selection metric on validation

#: inside an algorithm checkpoint: the selected weights as an RLModule folder (what
#: ``rayrec evaluate`` loads; the learner's module holds the last weights)
SELECTED_MODULE_DIR = "selected_module"
