-- wrk script: POST /v1/events with pre-generated batches and unique ids.
--
--   wrk -t2 -c64 -d10s --timeout 10s -s bench/post_events.lua \
--       http://127.0.0.1:PORT/v1/events -- TEMPLATE_FILE API_KEY
--
-- TEMPLATE_FILE is a JSON array body written by
-- `bench/gen_events.py --template 1000`, whose event ids read "@@ID@@-<i>".
-- The body is split once at init on "@@ID@@"; every request joins the parts
-- with a prefix unique to this run, thread and request
-- ("<run>-<thread>-<n>"), so no event is ever a duplicate and the server does
-- the full work of storing each one. Joining is one table.concat per request
-- (about 200 kB), cheap next to the server's work.
--
-- done() prints one machine-readable line:
--   EVENTS requests=R non2xx=N events_per_request=E events_per_s=X
-- counting only 2xx answers (wrk counts non-2xx/3xx in errors.status).

local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

function init(args)
  local path, key = args[1], args[2]
  if not path or not key then
    error("usage: wrk ... -s post_events.lua URL -- TEMPLATE_FILE API_KEY")
  end
  local f = assert(io.open(path, "rb"))
  local body = f:read("*a")
  f:close()
  parts = {}
  local pos = 1
  while true do
    local s, e = string.find(body, "@@ID@@", pos, true)
    if not s then
      table.insert(parts, string.sub(body, pos))
      break
    end
    table.insert(parts, string.sub(body, pos, s - 1))
    pos = e + 1
  end
  events_per_request = #parts - 1
  if events_per_request < 1 then error("no @@ID@@ placeholder in " .. path) end
  math.randomseed(os.time() + tid * 7919)
  run_id = string.format("b%x%04x", os.time(), math.random(0, 65535))
  n = 0
  hdrs = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }
end

function request()
  n = n + 1
  local prefix = run_id .. "-" .. tid .. "-" .. n
  return wrk.format("POST", nil, hdrs, table.concat(parts, prefix))
end

function done(summary, latency, requests)
  local per = 0
  for _, t in ipairs(threads) do
    per = t:get("events_per_request") or per
  end
  local secs = summary.duration / 1e6
  local ok = summary.requests - summary.errors.status
  io.write(string.format("EVENTS requests=%d non2xx=%d events_per_request=%d events_per_s=%.0f\n",
    summary.requests, summary.errors.status, per, secs > 0 and ok * per / secs or 0))
end
