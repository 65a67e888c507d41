"""Turns the raw results of bench/speed/run.sh into its table.

    python3 report.py RESULTS ME_CONNS LOGIN_CONNS FLOOD_CONNS PROBE_RATE

RESULTS has one line per measurement, `<cell> <label> RESULT requests=N seconds=S p99_ms=... status_200=N ...`,
with labels `me.app.<run>`, `me.floor.<run>`, `me.same.<run>` (the floor running the app's look-up),
`login.app.<run>`, `login.argon2.<run>`,
`p99.idle.<run>`, `p99.flood.<run>` and `p99.flood-login.<run>`. run.sh has already failed the run
if any answer was not the expected status. Each figure is the median of its runs with the spread
[min .. max]; a ratio is the median of the per-run ratios of the two sides that ran back to back.
Standard library only.
"""

from __future__ import annotations

import statistics
import sys
from collections import defaultdict


def parse(path: str) -> dict[str, dict[str, dict[int, dict[str, float]]]]:
    """cell -> measurement (label without the run) -> run -> values."""
    cells: dict[str, dict[str, dict[int, dict[str, float]]]] = defaultdict(lambda: defaultdict(dict))
    with open(path) as lines:
        for line in lines:
            parts = line.split()
            if len(parts) < 3 or parts[2] != "RESULT":
                continue
            cell, label = parts[0], parts[1]
            name, _, run = label.rpartition(".")
            if not run.isdigit():
                continue
            values = {}
            for item in parts[3:]:
                key, _, value = item.partition("=")
                values[key] = float(value)
            cells[cell][name][int(run)] = values
    return cells


def ok_per_second(values: dict[str, float]) -> float:
    """Successful answers per second: 200s, or 201s for logins (run.sh allowed nothing else)."""
    ok = values.get("status_200", 0.0) + values.get("status_201", 0.0)
    return ok / values["seconds"]


def spread(samples: list[float], digits: int = 0, suffix: str = "") -> str:
    if not samples:
        return "n/a"
    f = lambda v: f"{v:,.{digits}f}{suffix}"  # noqa: E731
    return f"{f(statistics.median(samples))} [{f(min(samples))} .. {f(max(samples))}]"


def paired(a: dict[int, dict[str, float]], b: dict[int, dict[str, float]], pick) -> list[float]:
    """a / b for each run that has both sides."""
    return [pick(a[run]) / pick(b[run]) for run in sorted(a) if run in b and pick(b[run])]


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main() -> None:
    cells = parse(sys.argv[1])
    me_conns, login_conns, flood_conns, probe_rate = sys.argv[2:6]
    rows = []
    for cell, m in cells.items():
        rate = lambda name: [ok_per_second(v) for _, v in sorted(m[name].items())]  # noqa: E731
        p99 = lambda name: [v["p99_ms"] for _, v in sorted(m[name].items())]  # noqa: E731
        rows.append([
            cell,
            f"GET /users/me, {me_conns} conns, req/s",
            spread(rate("me.app")),
            f"floor: {spread(rate('me.floor'))}",
            spread(paired(m["me.app"], m["me.floor"], ok_per_second), 2),
        ])
        if "me.same" in m:
            rows.append([
                cell,
                "  ... against the floor running the app's look-up (FLOOR_QUERY=app)",
                "",
                f"floor, app's query: {spread(rate('me.same'))}",
                spread(paired(m["me.app"], m["me.same"], ok_per_second), 2),
            ])
        rows.append([
            cell,
            f"POST /login, {login_conns} conns, logins/s",
            spread(rate("login.app"), 1),
            f"parallel Argon2: {spread(rate('login.argon2'), 1)}",
            spread(paired(m["login.app"], m["login.argon2"], ok_per_second), 2),
        ])
        rows.append([
            cell,
            f"GET /users/me p99 ms during a {flood_conns}-conn login flood (probe {probe_rate}/s)",
            spread(p99("p99.flood"), 2),
            f"no flood: {spread(p99('p99.idle'), 2)}",
            spread(paired(m["p99.flood"], m["p99.idle"], lambda v: v["p99_ms"]), 1, "x"),
        ])
        rows.append([
            cell,
            "  ... the flood's own logins/s",
            spread(rate("p99.flood-login"), 1),
            "",
            "",
        ])
    print(table(["cell", "figure", "generated app", "limit on this machine, same run", "ratio"], rows))
    print()
    print("ratio: app / limit for throughput (1.00 = the limit); for p99, during the flood / without it.")


if __name__ == "__main__":
    main()
