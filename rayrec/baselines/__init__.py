"""Non-RL baselines the papers compare against (beside :mod:`rayrec.algorithms`).

- :mod:`rayrec.baselines.rating`: rating-prediction baselines (global / user mean and
  scikit-surprise's KNN, SVD, SVD++ and NMF) fitted on (user, item, rating) triples.
"""
