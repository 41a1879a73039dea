-- wrk script for bench/poll.py: devices polling POST /devicecontrol/deviceCredentials.
--
-- Arguments (after `--` on the wrk command line):
--   1  value of the Authorization header (e.g. "Basic bWFuYWdlbWVudC9kZXZpY2Vib290c3RyYXA6...")
--   2  device id prefix (ids are prefix .. six-digit number)
--   3  number of device ids to cycle over
--   4  first id index (optional, default 0)
--   5  number of wrk threads (optional, default 1): thread n starts count / threads * n further on
--
-- Each thread cycles over the ids, one id per request, and counts the HTTP statuses it sees.
-- done() prints one line "POLL_RESULT {json}" that bench/poll.py parses.

local threads = {}

function setup(thread)
   thread:set("thread_index", #threads)
   table.insert(threads, thread)
end

function init(args)
   local count = tonumber(args[3])
   local first = tonumber(args[4] or "0")
   local thread_count = tonumber(args[5] or "1")
   id_prefix = args[2]
   id_count = count
   next_index = (first + math.floor(count / thread_count) * thread_index) % count
   statuses = {}
   wrk.method = "POST"
   wrk.headers["Authorization"] = args[1]
   wrk.headers["Content-Type"] = "application/json"
   wrk.headers["Accept"] = "application/json"
end

function request()
   local body = string.format('{"id":"%s%06d"}', id_prefix, next_index)
   next_index = (next_index + 1) % id_count
   return wrk.format(nil, "/devicecontrol/deviceCredentials", nil, body)
end

function response(status, headers, body)
   statuses[status] = (statuses[status] or 0) + 1
end

local function json_statuses()
   local totals = {}
   for _, thread in ipairs(threads) do
      for status, n in pairs(thread:get("statuses")) do
         totals[status] = (totals[status] or 0) + n
      end
   end
   local parts = {}
   for status, n in pairs(totals) do
      parts[#parts + 1] = string.format('"%d":%d', status, n)
   end
   return "{" .. table.concat(parts, ",") .. "}"
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      'POLL_RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},'
         .. '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f},"statuses":%s}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean,
      json_statuses()))
end
