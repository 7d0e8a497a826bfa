"""``fairaudit run`` on a 1M-row Parquet file with precomputed scores: wall time and peak memory.

    python benchmarks/bench_cli.py [--rows 1000000]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

CONFIG = """name: scale
data: scored.parquet
target: y
sensitive: [region, age_group, gender]
y_score: score
n_boot: 1000
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n = args.rows
    frame = pd.DataFrame({
        "region": rng.choice(["north", "south", "east", "west", "centre"], n),
        "age_group": rng.choice(["<25", "25-44", "45-64", "65+"], n),
        "gender": rng.choice(["female", "male"], n),
        "y": rng.integers(0, 2, n),
    })
    frame["score"] = np.clip(0.3 + 0.4 * frame["y"] + rng.normal(0, 0.2, n), 0, 1)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        frame.to_parquet(root / "scored.parquet")
        (root / "audit.yaml").write_text(CONFIG)
        command = shutil.which("fairaudit", path=str(Path(sys.executable).parent))
        for formats in ("json", "html,pdf,json"):
            start = time.perf_counter()
            done = subprocess.run([command, "run", "audit.yaml", "--format", formats, "--quiet"], cwd=root)
            seconds = time.perf_counter() - start
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            print(f"fairaudit run, {n:,} rows Parquet, formats {formats}: {seconds:.2f} s wall "
                  f"(process start and imports included), exit {done.returncode}, peak RSS of the largest "
                  f"run so far {peak:.0f} MB")


if __name__ == "__main__":
    main()
