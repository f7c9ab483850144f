"""Tune sweeps: YAML specs (``tune_configs/``), the sweep runner, resume and reports.

- :mod:`rayrec.tune.spec` — the spec format, loaded and validated
- :mod:`rayrec.tune.runner` — the trial function and ``rayrec tune``
- :mod:`rayrec.tune.resume` — ``rayrec resume`` (``Tuner.restore``)
- :mod:`rayrec.tune.results` — the one-row-per-trial results table
- :mod:`rayrec.tune.progress` — the progress table and resume-safe trial logs
- :mod:`rayrec.tune.report` — ``rayrec report``: Markdown and PNG plots

Submodules import Ray Tune; import them where needed.
"""
