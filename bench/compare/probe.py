"""An open-loop latency probe: `GET /users/me` at a fixed rate, whatever the server does.

    python3 probe.py HOST PORT HEADER SECONDS RATE [TIMEOUT]

HEADER is the credential as one request header, `Cookie: session=...` or `Authorization: Bearer ...`
(a bare value without `: ` is taken as a `Cookie` header). Starts one request every 1/RATE s for
SECONDS s, each on a fresh connection (`Connection: close`), and waits for the stragglers (TIMEOUT s
at most, default 30). Unlike a closed-loop client (wrk with one connection sends its next request
only when the previous one came back), a stalled server cannot make the probe send fewer requests:
every request that arrived during a stall is counted with its full wait. Prints one line in the
format of wrk/common.lua:

    RESULT requests=N seconds=S p50_ms=.. p90_ms=.. p99_ms=.. max_ms=.. timeouts=N errors=N status_200=N

`requests` is every request sent, and the percentiles are over all of them: a request that timed
out counts with the timeout as its latency (it is never dropped), and so does a socket error with
the time it took to fail. The exit status is 1 unless every request was answered 200, so a run
whose answers are not all successes cannot pass for a fast one. Standard library only; 127.0.0.1
only.
"""

from __future__ import annotations

import asyncio
import sys
import time


async def one(host: str, port: int, header: str, timeout: float) -> tuple[str, float]:
    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            (
                f"GET /users/me HTTP/1.1\r\nHost: {host}:{port}\r\n{header}\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        data = await reader.read()
        writer.close()
        return data

    start = time.perf_counter()
    try:
        data = await asyncio.wait_for(exchange(), timeout)
    except asyncio.TimeoutError:
        return "timeout", timeout
    except OSError:
        return "error", time.perf_counter() - start
    status_line = data.split(b"\r\n", 1)[0].split()
    status = status_line[1].decode() if len(status_line) > 1 else "error"
    return status, time.perf_counter() - start


def percentile(sorted_values: list[float], pct: float) -> float:
    """The nearest-rank percentile."""
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


async def main() -> int:
    host, port, header = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    seconds, rate = float(sys.argv[4]), float(sys.argv[5])
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 30.0
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("the probe only talks to the loopback address")
    if ": " not in header:
        header = f"Cookie: {header}"
    interval = 1 / rate
    count = int(seconds * rate)
    start = time.perf_counter()
    tasks = []
    for index in range(count):
        delay = start + index * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(host, port, header, timeout)))
    results = await asyncio.gather(*tasks)
    latencies = sorted(latency for _, latency in results)
    statuses: dict[str, int] = {}
    for status, _ in results:
        statuses[status] = statuses.get(status, 0) + 1
    ms = lambda value: value * 1000  # noqa: E731
    line = (
        f"RESULT requests={len(results)} seconds={seconds:.3f} "
        f"p50_ms={ms(percentile(latencies, 50)):.3f} p90_ms={ms(percentile(latencies, 90)):.3f} "
        f"p99_ms={ms(percentile(latencies, 99)):.3f} max_ms={ms(latencies[-1] if latencies else 0):.3f} "
        f"timeouts={statuses.pop('timeout', 0)} errors={statuses.pop('error', 0)}"
    )
    line += "".join(f" status_{status}={n}" for status, n in sorted(statuses.items()))
    print(line)
    return 0 if statuses.get("200", 0) == len(results) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
