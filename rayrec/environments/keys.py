"""Names of observation, info and transition keys shared by the environments and the
policies."""

OBS_USER = "user"
OBS_USER_FEATURES = "user_features"
OBS_HISTORY_ITEMS = "history_items"
OBS_HISTORY_FEEDBACK = "history_feedback"

#: info: (K, F) sampled per-item responses of the last slate (0 for invalid positions)
INFO_RESPONSE = "response"
#: info: (K,) whether each slate position was a valid, scored item
INFO_SLATE_VALID = "slate_valid"
#: info: patience left after the step
INFO_PATIENCE = "patience"

# transition columns (replay batches and logged transitions), filled from the info above
#: (B, K, F) per-item responses of the slate taken at t
RESPONSE = "slate_response"
#: (B, K) whether each slate position was shown
SLATE_VALID = "slate_valid"
