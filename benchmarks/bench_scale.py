"""Audits larger than memory: DuckDB on Parquet files, Spark local, and pandas in memory for comparison.

"floor" is the practical limit on DuckDB: one hand-written GROUP BY over the same files giving the cells
(group x label x decision x calibration bin) and a 1000-bin score histogram per group and label, the
least work any engine must do; the "duckdb" row is fairaudit's whole engine path (checks, cells,
histogram edges and bins) against it. "spark_floor" is the same GROUP BY as one Spark query, the
yardstick of the "spark" row (Spark's session start is reported apart, as "session s"; the one-off import of
DuckDB, narwhals and pyarrow, which the floor also does before its clock starts, as "imports s"). "x floor" is the
ratio to the floor of the same run; the load average is read when each row ends (the machine is shared).

Data: synthetic, written to Parquet in chunks (generation never holds more than one chunk): three
sensitive text columns (region 5 x age group 4 x sex 2 = 40 crossings), a 0/1 label and a continuous
probability score. Every measurement runs in its own process; peak memory is the largest resident set
of that process and its children (Spark's JVM included), sampled every 20 ms. "stats" is
``fairaudit.backends.group_stats`` (validation, cells, score histogram); "tables" builds by_group,
disparities and measures from them (n_boot=1000): it does not depend on the number of rows.

    python benchmarks/bench_scale.py                           # 10M and 100M rows
    python benchmarks/bench_scale.py --rows 10000000 --skip-spark
    python benchmarks/bench_scale.py --keep DIR                # keep the generated files in DIR
    python benchmarks/bench_scale.py --in-memory 1000000 --aequitas-python PATH/TO/aequitas-venv/bin/python

``--in-memory`` times the default audit of a pandas frame against a numpy floor, and with
``--aequitas-python`` Aequitas' crosstabs + disparity on the same rows, in an interpreter where Aequitas
is installed (it pins pandas < 3, so it cannot share fairaudit's environment).

``--baseline SRC`` runs the engine rows (duckdb, spark) a second time with the package found in SRC (the
``src`` folder of another checkout, e.g. ``git worktree add ../before <commit>``), as "duckdb@baseline"
and "spark@baseline", each against the current engine of the same run ("x current"): the "no slower than
before" check.

The generated files are deleted at the end unless --keep is given.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

CHUNK = 5_000_000
SENSITIVE = ["region", "age_group", "sex"]
KWARGS = dict(sensitive=SENSITIVE, target="y", y_score="score")
REGIONS = ["north", "south", "east", "west", "centre"]
AGES = ["<25", "25-44", "45-64", "65+"]
SEXES = ["female", "male"]


# ---------------------------------------------------------------------------- data
def generate(folder: Path, rows: int, seed: int = 0) -> str:
    """Write ``rows`` synthetic rows as Parquet files of at most CHUNK rows; returns their glob."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    dictionaries = [pa.array(values) for values in (REGIONS, AGES, SEXES)]
    for part, start in enumerate(range(0, rows, CHUNK)):
        n = min(CHUNK, rows - start)
        rng = np.random.default_rng([seed, part])
        codes = [rng.integers(0, len(d), n).astype(np.int8) for d in dictionaries]
        logit = -1.0 + 0.4 * codes[2] - 0.2 * codes[1] + 0.1 * codes[0] + rng.normal(0, 1, n)
        y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
        score = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.7, n))))
        columns = {name: pa.DictionaryArray.from_arrays(code, dictionary)
                   for name, code, dictionary in zip(SENSITIVE, codes, dictionaries, strict=True)}
        columns.update(y=pa.array(y), score=pa.array(score))
        pq.write_table(pa.table(columns), folder / f"part-{part:04d}.parquet", row_group_size=1_000_000)
        del codes, logit, y, score, columns
    return str(folder / "*.parquet")


# ---------------------------------------------------------------------------- one measurement (child)
FLOOR_SQL = """
SELECT region, age_group, sex, y, CAST(score >= 0.5 AS INTEGER) AS p, least(CAST(floor(score * 10) AS INTEGER), 9) AS c,
       CAST(floor(score * 1000) AS INTEGER) AS b, count(*) AS n, sum(score) AS s1, sum(score * score) AS s2
FROM read_parquet($path) GROUP BY ALL
"""


def floor(path: str) -> dict:
    """The single DuckDB GROUP BY the engine is compared with."""
    import duckdb

    con = duckdb.connect()
    started = time.perf_counter()
    rows = con.execute(FLOOR_SQL, {"path": path}).fetchall()
    return {"stats_seconds": time.perf_counter() - started, "tables_seconds": 0.0, "rows": sum(r[7] for r in rows),
            "groups": len({r[:3] for r in rows}), "fingerprint": "-", "score_bins": 1000}


def spark_session() -> object:
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", "4")
             .config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def spark_floor(data: object) -> dict:
    """FLOOR_SQL's one GROUP BY as a Spark DataFrame query, collected."""
    from pyspark.sql import functions as F

    score = F.col("score")
    started = time.perf_counter()
    rows = data.groupBy(*SENSITIVE, "y", (score >= 0.5).cast("int").alias("p"),
                        F.least(F.floor(score * 10), F.lit(9)).alias("c"), F.floor(score * 1000).alias("b")).agg(
        F.count("*").alias("n"), F.sum(score), F.sum(score * score)).collect()
    return {"stats_seconds": time.perf_counter() - started, "tables_seconds": 0.0, "rows": sum(r["n"] for r in rows),
            "groups": len({tuple(r[:3]) for r in rows}), "fingerprint": "-", "score_bins": 1000}


def measure(engine: str, path: str) -> dict:
    import warnings

    if engine == "floor":
        return floor(path)

    from fairaudit.backends import group_stats
    from fairaudit.tables import build_tables

    warnings.simplefilter("ignore")
    out: dict = {}
    if engine == "duckdb":  # the floor imports duckdb before its clock starts: so does the engine path
        started = time.perf_counter()
        import duckdb  # noqa: F401
        import narwhals  # noqa: F401
        import pyarrow  # noqa: F401

        for module in ("_narwhals", "_native", "duckdb"):  # the engine's modules (a --baseline has others)
            if importlib.util.find_spec(f"fairaudit.backends.{module}") is not None:
                importlib.import_module(f"fairaudit.backends.{module}")

        out["import_seconds"] = time.perf_counter() - started
        data = path
    elif engine == "pandas":
        import pandas as pd

        started = time.perf_counter()
        data = pd.read_parquet(Path(path).parent)
        for name in SENSITIVE:
            data[name] = data[name].astype("category")
        out["load_seconds"] = time.perf_counter() - started
    else:
        started = time.perf_counter()
        spark = spark_session()
        data = spark.read.parquet(str(Path(path).parent))
        out["load_seconds"] = time.perf_counter() - started
        if engine == "spark_floor":
            return {**spark_floor(data), **out}
        spark.sparkContext.setJobGroup("audit", "fairaudit")
    started = time.perf_counter()
    result = group_stats(data, **KWARGS)
    out["stats_seconds"] = time.perf_counter() - started
    started = time.perf_counter()
    build_tables(result.stats, intersections=True, confidence=0.95, n_boot=1000, rng=np.random.default_rng(0))
    out["tables_seconds"] = time.perf_counter() - started
    out.update(rows=result.rows, groups=result.stats.n_groups, fingerprint=result.fingerprint[:12],
               score_bins=len(result.stats.score_edges) - 1)
    if engine == "spark":
        out["spark_jobs"] = len(spark.sparkContext.statusTracker().getJobIdsForGroup("audit"))
    return out


# ---------------------------------------------------------------------------- in memory
def frame_of(rows: int) -> object:
    """The in-memory data: three text attributes, a 0/1 label, a probability score (the same in any
    Python that has numpy and pandas: Aequitas runs it in its own environment)."""
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({name: rng.choice(values, rows) for name, values in
                          zip(SENSITIVE, (REGIONS, AGES, SEXES), strict=True)})
    logit = rng.normal(0, 1, rows)
    frame["y"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    frame["score"] = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.7, rows))))
    return frame


def best_of(run: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def in_memory(rows: int, repeat: int = 5) -> dict:
    """The default audit of a pandas frame (3 text attributes, all crossings, scores, n_boot=1000) against
    the numpy floor of the same run: factorise the three columns, one bincount of the cells, one binned
    score histogram. Best of ``repeat`` rounds, each timing the floor then the audit (so that a slow
    moment of the shared machine hits both), after one untimed audit (its one-off imports and caches)."""
    import warnings

    import pandas as pd

    import fairaudit as fa

    warnings.simplefilter("ignore")
    frame = frame_of(rows)

    def floor() -> None:
        codes = [pd.factorize(frame[name], sort=True)[0] for name in SENSITIVE]
        group = (codes[0] * len(AGES) + codes[1]) * len(SEXES) + codes[2]
        score = frame["score"].to_numpy()
        cell = ((group * 2 + frame["y"].to_numpy()) * 2 + (score >= 0.5)) * 10 + np.minimum(score * 10, 9).astype(int)
        np.bincount(cell, minlength=40 * 40)
        np.bincount((group * 2 + frame["y"].to_numpy()) * 1000 + np.minimum(score * 1000, 999).astype(int))

    def audit() -> None:
        fa.audit(None, frame, sensitive=SENSITIVE, **{k: v for k, v in KWARGS.items() if k != "sensitive"})

    audit()
    rounds = [(best_of(floor, 1), best_of(audit, 1)) for _ in range(repeat)]
    return {"floor": min(f for f, _ in rounds), "audit": min(a for _, a in rounds)}


AEQUITAS = """
import sys, time, warnings
import numpy as np
sys.path.insert(0, {folder!r})
from bench_scale import SENSITIVE, best_of, frame_of
from aequitas.bias import Bias
from aequitas.group import Group
warnings.simplefilter("ignore")
frame = frame_of({rows})
data = frame[SENSITIVE].assign(score=(frame["score"] >= 0.5).astype(int), label_value=frame["y"].astype(int))
def run():
    crosstabs, _ = Group().get_crosstabs(data)
    Bias().get_disparity_major_group(crosstabs, original_df=data)
print(best_of(run, {repeat}))
"""


def aequitas(python: str, rows: int, repeat: int = 5) -> float:
    """Aequitas' crosstabs + disparity (per attribute: 11 groups, no crossings, no AUC, no intervals) on the
    same rows, in the interpreter ``python`` (Aequitas pins pandas < 3, so it lives in its own environment)."""
    script = AEQUITAS.format(folder=str(Path(__file__).parent), rows=rows, repeat=repeat)
    done = subprocess.run([python, "-c", script], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- the parent
def run_child(engine: str, path: str, source: Path | None = None) -> dict:
    """Run one measurement in a fresh process, sampling the peak resident memory of its process tree
    (``source``: import fairaudit from that folder instead of the installed package)."""
    import psutil

    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source.resolve()), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    child = subprocess.Popen([sys.executable, __file__, "--measure", engine, "--path", path],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        process = psutil.Process(child.pid)
        while not done.is_set():
            try:
                tree = [process, *process.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
            except psutil.Error:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stdout, stderr = child.communicate()
    done.set()
    sampler.join()
    if child.returncode != 0:
        raise RuntimeError(f"{engine} on {path} failed:\n{stderr[-3000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak / 2**20
    return result


def conditions() -> str:
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{os.cpu_count()} cores, load average {load} (1, 5, 15 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 100_000_000])
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--skip-pandas", action="store_true")
    parser.add_argument("--in-memory", type=int, default=None, metavar="ROWS",
                        help="only the in-memory default audit against the numpy floor, at ROWS rows")
    parser.add_argument("--aequitas-python", default=None, metavar="PYTHON",
                        help="with --in-memory: an interpreter with aequitas installed, timed on the same rows")
    parser.add_argument("--keep", type=Path, default=None, help="write the files here and keep them")
    parser.add_argument("--baseline", type=Path, default=None, metavar="SRC",
                        help="also time the engine rows with the fairaudit package in SRC (another checkout's src)")
    parser.add_argument("--measure", choices=["floor", "duckdb", "spark_floor", "spark", "pandas"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.path)))
        return
    if args.in_memory:
        found = in_memory(args.in_memory)
        line = (f"in memory, {args.in_memory:,} rows: audit {found['audit']:.3f} s, numpy floor {found['floor']:.3f} s "
                f"({found['audit'] / found['floor']:.2f}x)")
        if args.aequitas_python:
            seconds = aequitas(args.aequitas_python, args.in_memory)
            line += f"; Aequitas crosstabs + disparity {seconds:.3f} s ({found['audit'] / seconds:.2f}x)"
        print(f"{line}; {conditions()}")
        return

    root = args.keep or Path(tempfile.mkdtemp(prefix="fairaudit-bench-"))
    lines = ["| engine | rows | Parquet on disk | session s | imports s | stats s | x floor (x current) | tables s "
             "| peak RSS | Spark jobs | fingerprint | load average |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    try:
        for rows in args.rows:
            started = time.perf_counter()
            folder = root / f"rows_{rows}"
            existing = sorted(folder.glob("*.parquet"))
            path = str(folder / "*.parquet") if len(existing) == -(-rows // CHUNK) else generate(folder, rows)
            size = sum(f.stat().st_size for f in (root / f"rows_{rows}").glob("*.parquet")) / 2**20
            print(f"generated {rows:,} rows ({size:,.0f} MiB) in {time.perf_counter() - started:.1f} s",
                  file=sys.stderr, flush=True)
            engines = ["floor", "duckdb"]
            if rows <= 10_000_000:
                engines += [] if args.skip_spark else ["spark_floor", "spark"]
                engines += [] if args.skip_pandas else ["pandas"]
            if args.baseline is not None:
                engines += [f"{e}@baseline" for e in ("duckdb", "spark") if e in engines]
            floors: dict[str, float] = {}
            for engine in engines:
                r = run_child(engine.removesuffix("@baseline"), path,
                              args.baseline if engine.endswith("@baseline") else None)
                floors[engine] = r["stats_seconds"]
                base = {"duckdb": "floor", "spark": "spark_floor"}.get(engine, engine.removesuffix("@baseline"))
                ratio = f"{r['stats_seconds'] / floors[base]:.2f}" if base in floors and base != engine else "-"
                load = f"{r['load_seconds']:.1f}" if "load_seconds" in r else "-"
                imports = f"{r['import_seconds']:.1f}" if "import_seconds" in r else "-"
                line = (f"| {engine} | {rows:,} | {size:,.0f} MiB | {load} | {imports} | {r['stats_seconds']:.1f} "
                        f"| {ratio} | "
                        f"{r['tables_seconds']:.2f} | {r['peak_rss_mb']:,.0f} MiB | {r.get('spark_jobs', '-')} | "
                        f"{r['fingerprint']} | {', '.join(f'{v:.1f}' for v in os.getloadavg())} |")
                print(line, file=sys.stderr, flush=True)
                lines.append(line)
            if args.keep is None:
                shutil.rmtree(root / f"rows_{rows}", ignore_errors=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)
    print("\n".join(lines))
    print(conditions())


if __name__ == "__main__":
    main()
