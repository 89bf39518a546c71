#!/bin/bash
# The figures of issue 16, one after the other (run on a quiet machine: ~25 minutes).
# PostgreSQL databases are the benches' own (created and dropped), never `test`.
cd "$(dirname "$0")/.." || exit 1
set -o pipefail
PG=postgresql://postgres@127.0.0.1:5432
echo "=== engine 1 $(date)"; .venv/bin/python bench/engine.py --cases 30 --postgres-url $PG/bench_x 2>&1 | grep -v WARMFLOW
echo "=== engine 2 $(date)"; .venv/bin/python bench/engine.py --cases 30 --postgres-url $PG/bench_x 2>&1 | grep -v WARMFLOW
psql -h 127.0.0.1 -U postgres -d test -qc "drop database if exists bench_c" -c "create database bench_c"
echo "=== campaign sqlite $(date)"; .venv/bin/python bench/campaign.py --workers 20000 --sample 2000 2>&1 | grep -v WARMFLOW
echo "=== campaign pg $(date)"; .venv/bin/python bench/campaign.py --workers 20000 --sample 2000 --database-url $PG/bench_c 2>&1 | grep -v WARMFLOW
echo "=== tasklist both 1M $(date)"; .venv/bin/python bench/tasklist.py --requests 60 --completions 60 --postgres-url $PG/bench_tl 2>&1 | grep -v "finished cases: \|WARMFLOW"
psql -h 127.0.0.1 -U postgres -d test -qc "drop database if exists bench_grow" -c "create database bench_grow"
echo "=== tasklist pg 3M $(date)"; .venv/bin/python bench/tasklist.py --database-url $PG/bench_grow --finished 3000000 --requests 60 --completions 60 2>&1 | grep -v "finished cases: \|WARMFLOW"
echo "=== end $(date)"
