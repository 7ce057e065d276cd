"""Shared by the benchmark scripts: time a repspace run, read its distances."""
import glob
import json
import os
import subprocess
import time


def best_run(repspace, workdir, workers, repeats=2):
    """(wall seconds, pair-phase seconds) of the fastest of `repeats` runs of
    `repspace run workdir/config.toml` (each starts from an empty output, reusing nothing).
    The pair phase is the run's own `pair_phase_seconds` (its busiest worker's time in tiles)."""
    best = (float("inf"), float("inf"))
    for _ in range(repeats):
        subprocess.run(["rm", "-rf", os.path.join(workdir, "out")], check=True)
        t = time.perf_counter()
        subprocess.run([repspace, "run", os.path.join(workdir, "config.toml"), "-w", str(workers), "--quiet"], check=True)
        wall = time.perf_counter() - t
        (record,) = glob.glob(os.path.join(workdir, "out", "_runs", "*.json"))
        with open(record) as f:
            pair = json.load(f)["pair_phase_seconds"]
        best = min(best, (wall, pair))
    return best


def best_run_seconds(repspace, workdir, workers, repeats=2):
    """Best wall time of `repspace run workdir/config.toml` over `repeats` runs."""
    return best_run(repspace, workdir, workers, repeats)[0]


def distances(workdir, columns="model_a, model_b, distance"):
    """Rows of the run's distances table, read with DuckDB."""
    import duckdb

    return duckdb.connect().execute(f"select {columns} from read_parquet('{workdir}/out/distances/*.parquet')").fetchall()
