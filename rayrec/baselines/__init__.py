"""Non-RL baselines the papers compare against (beside :mod:`rayrec.algorithms`).

- :mod:`rayrec.baselines.rating`: rating-prediction baselines (global / user mean and
  scikit-surprise's KNN, SVD, SVD++ and NMF) fitted on (user, item, rating) triples.
- :mod:`rayrec.baselines.topn`: top-N scorers over a :class:`~rayrec.data.topn.TopNData`
  split — most popular, ItemCF (``implicit``'s cosine k-NN), UserCF (cosine k-NN).
- :mod:`rayrec.baselines.sequential`: SASRec, GRU4Rec and STAMP
  (:mod:`rayrec.models.sequential`) trained with full-pool cross-entropy on the same
  split's train sequences, as scorers.
"""
