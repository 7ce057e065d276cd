"""Read repspace's tables with DuckDB and pandas, untouched, and check them against the
netrep reference values of a fixture.

    python scripts/check_tables.py OUT_DIR FIXTURE_JSON

OUT_DIR holds a run of the fixture with models named net0..net{K-1} and metrics named as
the fixture's keys. Exits non-zero (with a message) on any disagreement.
"""
import json
import sys

import duckdb
import pandas as pd

out, fixture = sys.argv[1], sys.argv[2]
ref = json.load(open(fixture))
K = ref["K"]

# DuckDB: the glob the README shows.
con = duckdb.connect()
rows = con.execute(
    f"select metric, model_a, model_b, distance, distance_test "
    f"from read_parquet('{out}/distances/**/*.parquet')"
).fetchall()
assert rows, "DuckDB read no distance rows"
checked = 0
for metric, a, b, d, dt in rows:
    i, j = int(a[3:]), int(b[3:])
    want = ref["metrics"][metric]["D"][i][j]
    assert abs(d - want) <= 1e-8, f"DuckDB {metric} {a} {b}: {d} vs netrep {want}"
    if "D_test" in ref["metrics"][metric]:
        want_t = ref["metrics"][metric]["D_test"][i][j]
        assert dt is not None and abs(dt - want_t) <= 1e-8, f"DuckDB {metric} held-out {a} {b}: {dt} vs {want_t}"
    else:
        assert dt is None, f"{metric} should have a null distance_test"
    checked += 1
by_metric = con.execute(
    f"select metric, count(*) from read_parquet('{out}/distances/**/*.parquet') group by 1"
).fetchall()
assert all(n == K * (K - 1) // 2 for _, n in by_metric), by_metric

# pandas: models and distances, with a join on the content hash.
models = pd.read_parquet(f"{out}/models")
dist = pd.read_parquet(f"{out}/distances")
assert len(models) == K, f"pandas models rows {len(models)} != {K}"
assert set(models.columns) >= {"model_id", "layer", "layer_index", "uri", "content_hash", "n_samples", "n_features"}
joined = dist.merge(models[["model_id", "content_hash"]], left_on="model_a", right_on="model_id")
assert (joined["hash_a"] == joined["content_hash"]).all(), "hash_a matches the models table"
assert len(dist) == checked, "pandas and DuckDB see the same rows"
print(f"ok: DuckDB {duckdb.__version__} and pandas {pd.__version__} read {checked} distance rows and {len(models)} models")
