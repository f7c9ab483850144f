"""Load time and peak memory of every real dataset in ../shared/data.

Usage: ``python benchmarks/data_load.py [--data-root ../shared/data]``

For each dataset folder present, the reader validates and builds the log from the
original files (cold: no cache), then the Parquet cache is written and read back
(warm). Each measurement runs in a fresh subprocess so peak RSS is the reader's
own. Prints one table row per dataset and a JSON line at the end.

Measured 2026-11-22 on the 2-core CI-class machine: see the closing notes of the
foundation issue; the numbers are printed by this script, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

# (dataset name, folder under the data root)
DATASETS: list[tuple[str, str]] = [
    ("ml-1m", "movielens-1m"),
    ("ml-1m-folds", "movielens-1m"),
    ("retailrocket-sessions", "retailrocket"),
    ("yoochoose-padded", "yoochoose"),
    ("yoochoose-valid", "yoochoose"),
]

CHILD = r"""
import json, resource, sys, time, tempfile
from pathlib import Path
from rayrec.data import load_dataset
from rayrec.data.schema import InteractionLog
name, path = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
log = load_dataset(name, path, use_cache=False)
cold = time.perf_counter() - t0
rss_cold = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
with tempfile.TemporaryDirectory() as d:
    t1 = time.perf_counter(); log.save(Path(d) / "c"); write = time.perf_counter() - t1
    t2 = time.perf_counter(); InteractionLog.load(Path(d) / "c")
    warm = time.perf_counter() - t2
print(json.dumps({"dataset": name, "interactions": log.n_interactions, "cold_s": cold,
                  "cache_write_s": write, "warm_s": warm, "peak_rss_mib": rss_cold}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_root = Path(__file__).resolve().parents[1].parent / "shared" / "data"
    parser.add_argument("--data-root", type=Path, default=default_root)
    args = parser.parse_args()
    rows = []
    print(f"{'dataset':<24}{'rows':>12}{'cold s':>9}{'write s':>9}{'warm s':>9}{'peak MiB':>10}")
    for name, folder in DATASETS:
        path = args.data_root / folder
        if not path.is_dir():
            print(f"{name:<24} (absent: {path})")
            continue
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, name, str(path)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            print(f"{name:<24} FAILED: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(
            f"{name:<24}{row['interactions']:>12,}{row['cold_s']:>9.2f}{row['cache_write_s']:>9.2f}"
            f"{row['warm_s']:>9.2f}{row['peak_rss_mib']:>10.0f}"
        )
    print(json.dumps({"results": rows}))


if __name__ == "__main__":
    main()
