"""Shared by the benchmark scripts: time a repspace run, read its distances."""
import os
import subprocess
import time


def best_run_seconds(repspace, workdir, workers, repeats=2):
    """Best wall time of `repspace run workdir/config.toml` over `repeats` runs (the later
    runs reuse nothing: the output is removed first)."""
    best = float("inf")
    for _ in range(repeats):
        subprocess.run(["rm", "-rf", os.path.join(workdir, "out")], check=True)
        t = time.perf_counter()
        subprocess.run([repspace, "run", os.path.join(workdir, "config.toml"), "-w", str(workers), "--quiet"], check=True)
        best = min(best, time.perf_counter() - t)
    return best


def distances(workdir, columns="model_a, model_b, distance"):
    """Rows of the run's distances table, read with DuckDB."""
    import duckdb

    return duckdb.connect().execute(f"select {columns} from read_parquet('{workdir}/out/distances/*.parquet')").fetchall()
