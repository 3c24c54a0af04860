-- wrk script: the realistic mix of provider traffic, or one fixed request for the reference views.
-- Environment: MODE=mix|fixed, SETERA_PATH, PHONON_PATH, FORM_PATH (with ?token=), FIXED_PATH, DELAY_MS,
-- ACK_FILE (mix: where done() writes each call sent with its number of events, and the event id of each
-- delivery answered 2xx, for the "every acknowledged call exactly one dialog" check).
local threads = {}
local mode = os.getenv("MODE") or "mix"
local delay_ms = tonumber(os.getenv("DELAY_MS") or "0")

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter, calls, duplicates, queue, last = 0, 0, 0, {}, nil
  generated, acknowledged = {}, {}  -- "call-id events" lines; event ids of the deliveries answered 2xx
  math.randomseed(tid * 7919 + os.time())
end

local function setera(cid, seq, state)
  local ts = string.format("2026-01-01T10:00:%02d.000+00:00", seq * 3)
  return string.format('{"seq_num": %d, "call_id": "%s", "timestamp": "%s", "state": "%s", "direction": "INCOMING", ' ..
    '"local_user_id": "agent%d@example.com", "local_number": "+358942721%03d", "device_type": "SOFT", "remote_number": "+3584094%05d"}',
    seq, cid, ts, state, tid, counter % 1000, counter % 100000)
end

local function phonon(cid)
  return string.format('{"callDetails": [{"calleeNumber": "98765%05d", "connectTime": "2026-01-01 10:00:05", "didNumber": "8045671234", ' ..
    '"duration": "%d", "endTime": "2026-01-01 10:01:00", "hangupCause": "16", "incoming": true, "startTime": "2026-01-01 10:00:00"}], ' ..
    '"keys": [{"name": "$flow.key.lang", "value": "en"}], "phonon-uuid": "%s", "recordingUrls": [{"recordedFileName": "r.mp3", ' ..
    '"recordedFilePublicPath": "https://rec.example/%s.mp3"}]}', counter % 100000, counter % 90, cid, cid)
end

local function form(cid)
  return string.format("call_id=%s&caller=050%07d&callee=%%2B380441234567&status=PROPER&direction=in&call_duration=%d",
    cid, counter % 10000000, counter % 300)
end

local function add(path, content_type, body, first)
  table.insert(queue, {request = wrk.format("POST", path, {["Content-Type"] = content_type}, body), first = first})
end

local function next_call()
  counter = counter + 1
  local cid = string.format("%s-%d-%d", os.getenv("RUN") or "run", tid, counter)
  local pick = math.random()
  table.insert(generated, string.format("%s %d", cid, pick < 0.6 and 3 or 1))
  if pick < 0.6 then
    local events = {setera(cid, 1, "EARLY"), setera(cid, 2, "CONFIRMED"), setera(cid, 3, "TERMINATED")}
    if math.random() < 0.2 then events = {events[1], events[3], events[2]} end
    for i, body in ipairs(events) do add(os.getenv("SETERA_PATH"), "application/json", body, i == 1) end
  elseif pick < 0.8 then
    add(os.getenv("PHONON_PATH"), "application/json", phonon(cid), true)
  else
    add(os.getenv("FORM_PATH"), "application/x-www-form-urlencoded", form(cid), true)
  end
end

function request()
  if mode == "fixed" then
    return wrk.format("POST", os.getenv("FIXED_PATH"), {["Content-Type"] = "application/json"}, '{"call_id": "x", "status": "answered"}')
  end
  if last and math.random() < 0.05 then
    duplicates = duplicates + 1
    return last
  end
  if #queue == 0 then next_call() end
  local item = table.remove(queue, 1)
  if item.first then calls = calls + 1 end  -- a call counts once its first event is on its way
  last = item.request
  return last
end

if mode == "mix" then  -- defined only here: wrk parses responses only when a script wants them
  function response(status, headers, body)
    if status >= 200 and status < 300 then
      local event_id = body and string.match(body, '"event_id": *(%d+)')
      if event_id then table.insert(acknowledged, event_id) end
    end
  end
end

function delay()
  return delay_ms
end

function done(summary, latency, requests)
  local total_calls, total_duplicates = 0, 0
  local ack_file = os.getenv("ACK_FILE")
  local out = ack_file and mode == "mix" and io.open(ack_file, "w")
  for _, thread in ipairs(threads) do
    total_calls = total_calls + (thread:get("calls") or 0)
    total_duplicates = total_duplicates + (thread:get("duplicates") or 0)
    if out then
      for _, line in ipairs(thread:get("generated") or {}) do out:write("call ", line, "\n") end
      for _, event_id in ipairs(thread:get("acknowledged") or {}) do out:write("event ", event_id, "\n") end
    end
  end
  if out then out:close() end
  io.write(string.format("RESULT requests=%d seconds=%.3f errors=%d p50_ms=%.2f p99_ms=%.2f calls=%d duplicates=%d\n",
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.status + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, total_calls, total_duplicates))
end
