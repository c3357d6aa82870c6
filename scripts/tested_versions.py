"""The "tested Airflow versions" table of docs/deploying.md, produced from what CI ran.

``.ci/run`` records one JSON line per step (test-artifacts/matrix.jsonl). This script turns them into
docs/tested-versions.json (committed: what the last CI run tested) and the Markdown table between the
``tested-versions`` markers of docs/deploying.md.

    python scripts/tested_versions.py --results test-artifacts/matrix.jsonl --write   # after a CI run
    python scripts/tested_versions.py --results test-artifacts/matrix.jsonl --check   # CI: docs == run
    python scripts/tested_versions.py --check                                         # docs == record
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "tested-versions.json"
PAGE = ROOT / "docs" / "deploying.md"
START, END = "<!-- tested-versions:start -->", "<!-- tested-versions:end -->"
WHAT_RAN = {
    "full": "full suite: unit, sandbox, dag.test(), end to end (scheduler, triggerers, Celery workers, UI)",
    "tiers": 'unit, sandbox and dag.test() tiers (`-m "not e2e and not slow"`)',
}


def _version_key(row: dict[str, Any]) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in str(row["airflow"]).split("."))


def read_results(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # Times vary from run to run: the record keeps what was tested and how it ended.
    return sorted(
        ({k: row[k] for k in ("airflow", "step", "executors", "result")} for row in rows),
        key=_version_key,
        reverse=True,
    )


def render(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| Airflow | What CI runs | Executors and metadata DB | Last result |",
        "| --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['airflow']} | {WHAT_RAN[r['step']]} | {r['executors']} | {r['result']} |" for r in rows
    ]
    return "\n".join(lines)


def table_in_page() -> str:
    text = PAGE.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{PAGE}: the {START} ... {END} markers are missing")
    return text.split(START, 1)[1].split(END, 1)[0].strip()


def write(rows: list[dict[str, Any]]) -> None:
    RECORD.write_text(json.dumps(rows, indent=2) + "\n")
    text = PAGE.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    PAGE.write_text(f"{head}{START}\n{render(rows)}\n{END}{tail}")


def check(rows: list[dict[str, Any]] | None) -> list[str]:
    problems = []
    recorded = json.loads(RECORD.read_text())
    if rows is not None:
        problems += [f"Airflow {r['airflow']} ({r['step']}): {r['result']}" for r in rows if r["result"] != "passed"]
        if rows != recorded:
            problems.append(f"{RECORD.name} differs from this run: run scripts/tested_versions.py --write")
    if table_in_page() != render(recorded):
        problems.append(f"the table in {PAGE.name} differs from {RECORD.name}: run --write")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, help="the JSON lines .ci/run wrote")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true")
    action.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    rows = read_results(args.results) if args.results else None
    if args.write:
        if rows is None:
            parser.error("--write needs --results")
        write(rows)
        return 0
    problems = check(rows)
    for problem in problems:
        print(f"tested versions: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
