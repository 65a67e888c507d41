"""Turns the raw wrk results of bench/compare/run.sh into the tables it prints.

    python3 report.py RESULTS META

RESULTS has one line per wrk run, `<label> RESULT requests=N seconds=S p50_ms=... status_201=N ...`
(printed by wrk/common.lua); META has `key=value` lines about the machine and the two sides.
Standard library only.
"""

from __future__ import annotations

import sys


def parse_results(path: str) -> dict[str, dict[str, float]]:
    runs: dict[str, dict[str, float]] = {}
    with open(path) as lines:
        for line in lines:
            parts = line.split()
            if len(parts) < 2 or parts[1] != "RESULT":
                continue
            values = {}
            for item in parts[2:]:
                key, _, value = item.partition("=")
                values[key] = float(value)
            runs[parts[0]] = values
    return runs


def parse_meta(path: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    with open(path) as lines:
        for line in lines:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep:
                meta[key] = value
    return meta


def rate(run: dict[str, float] | None, status: int | None = None) -> float | None:
    """Answers per second (all of them, or only those with `status`)."""
    if not run or not run.get("seconds"):
        return None
    count = run.get("requests", 0.0) if status is None else run.get(f"status_{status}", 0.0)
    return count / run["seconds"]


def latency(run: dict[str, float] | None, key: str) -> float | None:
    if not run or not run.get("requests"):
        return None
    return run.get(key)


def shares(run: dict[str, float] | None) -> str:
    """`201 x% / 429 y% / other z%` of the answers (timeouts and socket errors count as other)."""
    if not run:
        return "n/a"
    total = run.get("requests", 0.0) + run.get("timeouts", 0.0)
    if not total:
        return "no answers"
    ok = run.get("status_201", 0.0)
    limited = run.get("status_429", 0.0)
    other = total - ok - limited
    return f"201 {pct(ok, total)} / 429 {pct(limited, total)} / other {pct(other, total)}"


def pct(part: float, total: float) -> str:
    value = 100 * part / total
    if 0 < value < 0.01:
        return "<0.01%"
    if 99.99 < value < 100:
        return ">99.99%"
    if 0 < value < 1 or 99 < value < 100:
        return f"{value:.2f}%"
    return f"{value:.0f}%"


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if value >= 1 else f"{value:.{max(digits, 2)}f}"


def ratio(reference: float | None, rust: float | None, higher_is_better: bool) -> str:
    """How many times better cargo-users is (> 1: cargo-users better)."""
    if reference is None or rust is None or reference <= 0 or rust <= 0:
        return "n/a"
    value = rust / reference if higher_is_better else reference / rust
    return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


def times(value: float | None) -> str:
    return "n/a" if value is None else fmt(value) + "x"


def answered(run: dict[str, float] | None) -> str:
    """`answered 200 / sent` of a probe run."""
    if not run:
        return "n/a"
    sent = run.get("requests", 0.0) + run.get("timeouts", 0.0) + run.get("errors", 0.0)
    return f"{run.get('status_200', 0.0):.0f} / {sent:.0f}"


def stall(flood: dict[str, float] | None, idle: dict[str, float] | None) -> float | None:
    """p99 of the GET /users/me probe during the login flood over its p99 without it."""
    during, before = latency(flood, "p99_ms"), latency(idle, "p99_ms")
    if during is None or not before:
        return None
    return during / before


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def main() -> None:
    runs = parse_results(sys.argv[1])
    meta = parse_meta(sys.argv[2])
    r = runs.get
    conns_login = meta.get("login_conns", "4")
    conns_flood = meta.get("flood_conns", "16")
    rate_probe = meta.get("probe_rate", "40")

    def numeric(label: str, ref: str, rust: str, pick, higher: bool, digits: int = 1) -> list[str]:
        a, b = pick(r(ref)), pick(r(rust))
        return [label, fmt(a, digits), fmt(b, digits), ratio(a, b, higher)]

    rows = [
        numeric("GET /users/me, 1 conn: requests/s (200s)", "lit.me1", "rs.me1", lambda x: rate(x, 200), True),
        numeric("GET /users/me, 1 conn: p50 ms", "lit.me1", "rs.me1", lambda x: latency(x, "p50_ms"), False, 2),
        numeric("GET /users/me, 1 conn: p99 ms", "lit.me1", "rs.me1", lambda x: latency(x, "p99_ms"), False, 2),
        numeric("GET /users/me, 32 conns: requests/s (200s)", "lit.me32", "rs.me32", lambda x: rate(x, 200), True),
        numeric("GET /users/me, 32 conns: p50 ms", "lit.me32", "rs.me32", lambda x: latency(x, "p50_ms"), False, 2),
        numeric("GET /users/me, 32 conns: p99 ms", "lit.me32", "rs.me32", lambda x: latency(x, "p99_ms"), False, 2),
        numeric(f"POST /login, {conns_login} conns: logins/s (201s) [a]", "lit.login", "rsr.login",
                lambda x: rate(x, 201), True),
        numeric(f"POST /login, {conns_login} conns: p50 ms [a]", "lit.login", "rsr.login",
                lambda x: latency(x, "p50_ms"), False),
        [f"POST /login, {conns_login} conns: answers [a]", shares(r("lit.login")), shares(r("rsr.login")), "-"],
        numeric(f"GET /users/me, idle, probe {rate_probe}/s: p50 ms", "lit.idle", "rs.idle",
                lambda x: latency(x, "p50_ms"), False, 2),
        numeric(f"GET /users/me, idle, probe {rate_probe}/s: p99 ms", "lit.idle", "rs.idle",
                lambda x: latency(x, "p99_ms"), False, 2),
        numeric(f"GET /users/me during login flood ({conns_flood} conns), probe: p50 ms [a]",
                "lit.flood.me", "rsr.flood.me", lambda x: latency(x, "p50_ms"), False, 2),
        numeric("  ... p99 ms [a]", "lit.flood.me", "rsr.flood.me", lambda x: latency(x, "p99_ms"), False, 2),
        numeric("  ... max ms [a]", "lit.flood.me", "rsr.flood.me", lambda x: latency(x, "max_ms"), False, 2),
        [
            "  ... stall: p99 during flood / p99 idle [a]",
            times(stall(r("lit.flood.me"), r("lit.idle"))),
            times(stall(r("rsr.flood.me"), r("rs.idle"))),
            "-",
        ],
        ["  ... probe answers (200 / sent)", answered(r("lit.flood.me")), answered(r("rsr.flood.me")), "-"],
        numeric("  ... the flood's own logins/s (201s) [a]", "lit.flood.login", "rsr.flood.login",
                lambda x: rate(x, 201), True),
        ["  ... the flood's answers [a]", shares(r("lit.flood.login")), shares(r("rsr.flood.login")), "-"],
    ]
    print(table(["metric", "litestar-users", "cargo-users", "ratio (>1: cargo-users better)"], rows))
    print()
    print("[a] cargo-users here is the generated app with RATE_LIMITS=off (the setting for load tests), so")
    print("    that every login is hashed as in litestar-users, which has no rate limiting. The generated app")
    print("    with its limits on is in the next table. The login rows compare")
    print("    Argon2 costs more than frameworks while the two sides' parameters differ (see hashing below).")
    print()

    columns = [
        ("lit", f"litestar-users, its default Argon2 ({meta.get('lit_params', '?')})"),
        ("litm", f"litestar-users, Argon2 set to cargo-users' ({meta.get('litm_params', '?')})"),
        ("rsr", "cargo-users, RATE_LIMITS=off"),
        ("rs", "cargo-users, rate limits on (default)"),
    ]

    def row(label: str, name: str, pick) -> list[str]:
        return [label, *(pick(r(f"{prefix}.{name}")) for prefix, _ in columns)]

    rows2 = [
        row(f"POST /login, {conns_login} conns: logins/s (201s)", "login", lambda x: fmt(rate(x, 201))),
        row(f"POST /login, {conns_login} conns: all answers/s", "login", lambda x: fmt(rate(x))),
        row(f"POST /login, {conns_login} conns: p50 ms", "login", lambda x: fmt(latency(x, "p50_ms"))),
        row(f"POST /login, {conns_login} conns: answers", "login", shares),
        row("GET /users/me during flood (probe): p50 ms", "flood.me", lambda x: fmt(latency(x, "p50_ms"), 2)),
        row("GET /users/me during flood (probe): p99 ms", "flood.me", lambda x: fmt(latency(x, "p99_ms"), 2)),
        row("GET /users/me during flood (probe): 200 / sent", "flood.me", answered),
        [
            "stall: p99 during flood / p99 idle",
            *(
                times(stall(r(f"{prefix}.flood.me"), r("lit.idle" if prefix.startswith("lit") else "rs.idle")))
                for prefix, _ in columns
            ),
        ],
        row("flood: logins/s (201s)", "flood.login", lambda x: fmt(rate(x, 201))),
        row("flood: answers", "flood.login", shares),
    ]
    print("Login and flood under each configuration (same runs as above where the column repeats):")
    print(table(["metric", *(title for _, title in columns)], rows2))


if __name__ == "__main__":
    main()
