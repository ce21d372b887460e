-- wrk's summary as one JSON line, for the runner (`wrk -s bench/wrk/report.lua ...`). Only
-- `done` is defined, so wrk keeps its fast path (no Lua per request or response).
-- errors: connect, read (a connection closed or reset with a request in flight, or a response
-- that did not parse), write, status (responses other than 2xx/3xx), timeout (no response within
-- wrk's --timeout; such a request is also missing from the latency figures).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"wrk":true,"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9)))
end
