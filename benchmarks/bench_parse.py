"""What the provider costs the DAG processor.

1. Import: fresh interpreters, alternating, median of N: ``import airflow.sdk`` alone vs followed by
   every provider operator and sensor module. Goal: under 50 ms more; shapely, pyproj, requests,
   httpx and the sandbox are not imported.
2. Parse: each example DAG file against a generated DAG of the same shape (same dag id, same task
   ids and edges) made of EmptyOperators, each parsed in a fresh interpreter, alternating, median of
   N. Goal: at most 1.2x.

    .venv/bin/python benchmarks/bench_parse.py [--runs 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("shapely", "pyproj", "requests", "httpx", "airflow_provider_oneatlas.sandbox", "fastapi")

IMPORT_CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
already = set(sys.modules)
if sys.argv[1] == "provider":
    import airflow_provider_oneatlas.operators.search, airflow_provider_oneatlas.operators.order
    import airflow_provider_oneatlas.operators.download, airflow_provider_oneatlas.sensors.oneatlas
t2 = time.perf_counter()
print(json.dumps({"extra": t2 - t1, "heavy": [m for m in HEAVY if m in sys.modules and m not in already]}))
"""

PARSE_CHILD = r"""
import sys, time, json, importlib.util, os
sys.path.insert(0, os.path.join(os.getcwd(), "example_dags"))  # as the DAG processor puts the DAG folder
import airflow.sdk  # both sides start from the same warm SDK: the DAG file's own cost is measured
from airflow.providers.standard.operators.empty import EmptyOperator  # noqa: F401 (the reference's)
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("dagfile", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
t1 = time.perf_counter()
print(json.dumps({"seconds": t1 - t0}))
"""

SHAPE_CHILD = r"""
import sys, json, importlib.util, os
sys.path.insert(0, os.path.join(os.getcwd(), "example_dags"))
from airflow.sdk import DAG
spec = importlib.util.spec_from_file_location("dagfile", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dags = [v for v in vars(module).values() if isinstance(v, DAG)]

def uris(objs):
    return sorted({getattr(o, "uri", None) for o in objs or [] if getattr(o, "uri", None)})

shapes = []
for d in dags:
    schedule = uris(getattr(d.timetable, "asset_condition", None) and d.timetable.asset_condition.iter_assets() and
                    [a for _, a in d.timetable.asset_condition.iter_assets()])
    shapes.append({
        "dag_id": d.dag_id,
        "schedule_assets": schedule,
        "tasks": {
            t.task_id: {
                "downstream": sorted(t.downstream_task_ids),
                "decorated": "Decorated" in type(t).__name__ or "_PythonDecoratedOperator" in str(type(t)),
                "outlets": uris(getattr(t, "outlets", [])),
            }
            for t in d.tasks
        },
    })
print(json.dumps(shapes))
"""


def run_child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + code, *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def reference_dag(shapes: list[dict]) -> str:
    """The same DAGs made of EmptyOperators (and plain @task functions where the original has them),
    with the same Assets as schedule and outlets: only the provider's operators are taken out."""
    lines = [
        "from airflow.sdk import DAG, Asset, task",
        "from airflow.providers.standard.operators.empty import EmptyOperator",
    ]
    for index, shape in enumerate(shapes):
        schedule = (
            f"[{', '.join(f'Asset({u!r})' for u in shape['schedule_assets'])}]" if shape["schedule_assets"] else "None"
        )
        lines.append(f"with DAG({shape['dag_id']!r}, schedule={schedule}) as dag_{index}:")
        names = {task_id: f"t{i}" for i, task_id in enumerate(shape["tasks"])}
        for task_id, name in names.items():
            info = shape["tasks"][task_id]
            outlets = f"[{', '.join(f'Asset({u!r})' for u in info['outlets'])}]"
            if info["decorated"]:
                lines.append(f"    @task(task_id={task_id!r}, outlets={outlets})")
                lines.append(f"    def f{name}():")
                lines.append("        return None")
                lines.append(f"    {name} = f{name}()")
            else:
                lines.append(f"    {name} = EmptyOperator(task_id={task_id!r}, outlets={outlets})")
        for task_id, info in shape["tasks"].items():
            for target in info["downstream"]:
                lines.append(f"    {names[task_id]} >> {names[target]}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    ok = True

    base, provider, heavy = [], [], set()
    for _ in range(args.runs):
        base.append(run_child(IMPORT_CHILD, "base")["extra"])
        result = run_child(IMPORT_CHILD, "provider")
        provider.append(result["extra"])
        heavy.update(result["heavy"])
    extra_ms = 1000 * (statistics.median(provider) - statistics.median(base))
    print(
        f"import airflow.sdk + provider operators: +{extra_ms:.1f} ms (median of {args.runs}); "
        f"heavy modules imported: {sorted(heavy) or 'none'}"
    )
    import_ok = extra_ms < 50 and not heavy
    print(f"goal: < 50 ms and no heavy module added at parse time: {'PASS' if import_ok else 'FAIL'}")
    ok &= import_ok

    with tempfile.TemporaryDirectory() as tmp:
        for dag_file in sorted((ROOT / "example_dags").glob("oneatlas_*.py")):
            shapes = run_child(SHAPE_CHILD, str(dag_file))
            if not shapes:
                continue
            reference = Path(tmp) / f"reference_{dag_file.name}"
            reference.write_text(reference_dag(shapes))
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(run_child(PARSE_CHILD, str(dag_file))["seconds"])
                theirs.append(run_child(PARSE_CHILD, str(reference))["seconds"])
            ratio = statistics.median(ours) / statistics.median(theirs)
            tasks = sum(len(shape["tasks"]) for shape in shapes)
            print(
                f"{dag_file.name:32s} {1000 * statistics.median(ours):7.1f} ms vs EmptyOperator shape "
                f"{1000 * statistics.median(theirs):7.1f} ms ({tasks} tasks): ratio {ratio:.2f}x "
                f"{'PASS' if ratio <= 1.2 else 'FAIL'}"
            )
            ok &= ratio <= 1.2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
