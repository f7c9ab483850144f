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

# rating_walk observations (a contract with the rating policies; shapes per sub-env)
#: (W, F + 1) float32: the last W past records of the user, oldest first, left-padded
#: with zeros; the last column is each record's normalised rating
OBS_RECORDS = "records"
#: (W,) int64 the item id of each record in the window (0 = padding)
OBS_RECORD_ITEMS = "record_items"
#: (W,) float32 1.0 for a real record, 0.0 for padding
OBS_RECORD_MASK = "record_mask"
#: (1,) int64 how many of the newest window records no earlier observation of the
#: episode held (min(t, W) at an episode's start, then 1; 0 for an idle sub-env)
OBS_NEW_RECORDS = "new_records"
#: (F,) float32 the features of the record to predict (never its rating)
OBS_CURRENT = "current"
#: (1,) int64 the item id of the record to predict
OBS_CURRENT_ITEM = "current_item"

# rating_walk infos, each (B,) per step, about the record the step's action predicted
#: normalised true rating of the predicted record (0 when the step predicted none)
INFO_RATING = "rating"
#: the prediction counts for the part's metric (train: every prediction; eval: the
#: test-part records at positions >= short_window)
INFO_SCORED = "scored"
#: the step's action predicted a record (False on reset and idle steps)
INFO_PREDICTED = "predicted"
#: dense user id of the predicted record (0 when none)
INFO_USER = "user"
#: position of the predicted record in its user's history (-1 when none)
INFO_POSITION = "position"

# topn observations (a contract with the top-N policies; shapes per sub-env; the user
# features travel under OBS_USER_FEATURES)
#: (L,) int64 the liked items consumed so far, most recent last, left-padded with 0
OBS_LONG_ITEMS = "long_items"
#: (n,) int64 the last n consumed items, most recent last, left-padded with 0
OBS_SHORT_ITEMS = "short_items"
#: (I + 1,) bool True where the item may be recommended (never column 0, padding)
OBS_ACTION_MASK = "action_mask"

# topn infos, each (B,) per step (INFO_USER: the dense user id the step recommended to)
#: the step's action recommended an item (False on the step that starts a new user)
INFO_RECOMMENDED = "recommended"
#: the recommended item was allowed, in the user's train ratings and liked
INFO_HIT = "hit"
