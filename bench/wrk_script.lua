-- wrk script of the llm-quota benchmark: POSTs BENCH_BODY_FILE to BENCH_PATH, rotating the
-- API keys listed one per line in BENCH_KEYS_FILE (none: no key), and prints a JSON summary.
local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local function read_all(path)
  local f = assert(io.open(path, "r"))
  local s = f:read("*a")
  f:close()
  return s
end

local keys = {}
local requests = {}
local n = 0
local i = 0

function init(args)
  local body = read_all(os.getenv("BENCH_BODY_FILE"))
  local path = os.getenv("BENCH_PATH")
  local keys_file = os.getenv("BENCH_KEYS_FILE")
  if keys_file and keys_file ~= "" then
    for line in io.lines(keys_file) do
      if line ~= "" then table.insert(keys, line) end
    end
  end
  local headers = { ["Content-Type"] = "application/json" }
  if #keys == 0 then
    requests[1] = wrk.format("POST", path, headers, body)
  else
    for k = 1, #keys do
      headers["Authorization"] = "Bearer " .. keys[k]
      requests[k] = wrk.format("POST", path, headers, body)
    end
  end
  n = #requests
  i = (id or 0) * 7919 % n
end

function request()
  i = i % n + 1
  return requests[i]
end

function done(summary, latency, reqs)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,"status_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
