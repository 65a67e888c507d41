-- Shared by the benchmark's wrk scripts: counts answers by status in every thread and, when the
-- run ends, prints one machine-readable line:
--   RESULT requests=N seconds=S p50_ms=X p90_ms=X p99_ms=X max_ms=X timeouts=N errors=N status_201=N ...
-- (latency percentiles are wrk's own, over every request of the run).

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

counts = {}

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, n in pairs(c) do
      total[status] = (total[status] or 0) + n
    end
  end
  local e = summary.errors
  local line = string.format(
    "RESULT requests=%d seconds=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f timeouts=%d errors=%d",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    latency.max / 1000, e.timeout, e.connect + e.read + e.write)
  for status, n in pairs(total) do
    line = line .. string.format(" status_%d=%d", status, n)
  end
  io.write(line .. "\n")
end
