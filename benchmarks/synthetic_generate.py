"""Wall time and peak memory of the synthetic generator (``rayrec.data.synthetic.generate``).

Usage::

    python benchmarks/synthetic_generate.py [--sizes 500x400x3 3000x3600x4] [--no-tracemalloc]

Each size is ``users x items x sessions per user`` (the other fields at their defaults:
5 items per slate, ~6 slates per session). Every size runs in a fresh subprocess, so the
peak is the generator's own. Reported per size, in the table and the last line's JSON:

- ``seconds``: wall time of one ``generate()`` call (tracemalloc off);
- ``peak_rss_mib``: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` of the child after
  the call — peak resident memory of the whole process, interpreter and imports
  included; ``base_rss_mib`` is the same figure before the call;
- ``peak_traced_mib``: ``tracemalloc``'s peak during a second call (numpy's arrays and
  Python objects allocated by it; the imports excluded), unless ``--no-tracemalloc``;
- ``digest``: sha256 of the log's columns (as ``tests/data/test_synthetic.py`` computes
  it): the same seed must give the same log.

Figures (2-core CPU shared with three other jobs, 2026-12-06, numpy float64 keys; the
3,000 × 3,600 × 4 log is the learned simulator's fallback data in
``benchmarks/simulator_throughput.py``). Peak memory is ``ru_maxrss`` of a fresh process
(~105 MiB of it is the interpreter, numpy and pandas before the call)::

    size            rows       before: s   peak RSS MiB   after: s   peak RSS MiB   traced MiB
    500x400x3       44,795             -              -       0.20            150           44
    1000x1800x4    118,010             7.0          1,728   1.8–4.7       159–175           38
    3000x3600x4    359,655            45.8          9,989  14.3–21.9          190           76

"before" is the dense generator (slates × items float64 Gumbel keys and full argsorts,
commit d20be74, timed with the same ``ru_maxrss`` measure in a fresh process), "after"
chunks those keys over slates (``argpartition``, in-place logits). The logs are
identical: digest e6c357c17143628b for 500x400x3 (the embedded ``envs/synthetic.yaml``
data, recorded in the test), 709747e5c57730e6 for 3000x3600x4 (the dense code's log was
compared column by column through another hash and matched). Wall times move with the
load of the shared cores (the ranges are two runs); what is left is mostly the
2 × slates × items Gumbel draws and logits, which the same-log rule keeps.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import hashlib, json, resource, sys, time, tracemalloc
import numpy as np
from rayrec.data.synthetic import SyntheticConfig, generate

users, items, sessions, traced = sys.argv[1:5]
config = SyntheticConfig(
    n_users=int(users), n_items=int(items), sessions_per_user=float(sessions)
)
def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
base = rss_mib()
t0 = time.perf_counter()
log = generate(config).log
seconds = time.perf_counter() - t0
peak = rss_mib()
digest = hashlib.sha256()
for frame in (log.interactions, log.users, log.items):
    for column in frame.columns:
        digest.update(f"{column}:{frame[column].dtype}".encode())
        digest.update(np.ascontiguousarray(frame[column].to_numpy()).tobytes())
rows = len(log.interactions)
del log
traced_peak = None
if traced == "1":
    tracemalloc.start()
    generate(config)
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
print(json.dumps({
    "rows": rows, "seconds": round(seconds, 2), "base_rss_mib": round(base),
    "peak_rss_mib": round(peak),
    "peak_traced_mib": None if traced_peak is None else round(traced_peak),
    "digest": digest.hexdigest()[:16],
}))
"""


def measure(size: str, traced: bool) -> dict[str, object]:
    """One size ``UxIxS`` in a fresh interpreter: its JSON line as a dict."""
    users, items, sessions = size.split("x")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, users, items, sessions, "1" if traced else "0"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    row: dict[str, object] = {"size": size, **json.loads(out.strip().splitlines()[-1])}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description="synthetic generator time and peak memory")
    parser.add_argument("--sizes", nargs="+", default=["500x400x3", "3000x3600x4"])
    parser.add_argument("--no-tracemalloc", action="store_true", help="skip the traced call")
    args = parser.parse_args()
    print(
        f"{'size':>14} {'rows':>9} {'seconds':>8} {'peak RSS MiB':>13} {'base MiB':>9}"
        f" {'traced MiB':>11} {'digest':>17}"
    )
    rows = []
    for size in args.sizes:
        row = measure(size, not args.no_tracemalloc)
        rows.append(row)
        traced = row["peak_traced_mib"]
        print(
            f"{size:>14} {row['rows']:>9,} {row['seconds']:>8.2f} {row['peak_rss_mib']:>13,}"
            f" {row['base_rss_mib']:>9,} {'-' if traced is None else traced:>11}"
            f" {row['digest']:>17}",
            flush=True,
        )
    print(
        json.dumps(
            {
                "memory": "peak_rss_mib: ru_maxrss of a fresh process (whole process);"
                " peak_traced_mib: tracemalloc peak of one generate() call",
                "rows": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
