-- Retention (HistoryStore.delete_ended_runs, RetentionStore): pruning a job's ended runs a
-- batch at a time, the fire ledger their scheduled runs leave, and the other kinds of rows.
-- tss/store/redis/retention.py has the ledger's key layout.

-- part: pruning
-- The runs of one prune of a job: walk job-runs:<job> (id order) from the oldest, up to the
-- job's keep_last newest and below the id bound (ids carry their creation time), and take
-- each ended run that ended before the cutoff and is in no flow still going.
local function flow_over(flow)
  for _, m in ipairs(redis.call('SMEMBERS', P .. 'flow:' .. flow)) do
    local s = redis.call('HGET', P .. 'run:' .. m, 'state')
    if s and not TERMINAL[s] then return false end
  end
  return true
end

-- {chosen runs, next rank (or -1: the walk is over)}; at most limit runs, from rank start.
local function prunable(job, before, keep_last, bound, start, limit, wanted)
  local key = P .. 'job-runs:' .. job
  local last = redis.call('ZCARD', key) - keep_last - 1
  local chosen, rank = {}, start
  while #chosen < wanted and rank <= last and rank < start + limit do
    local stop = math.min(rank + 199, last, start + limit - 1)
    local ids = redis.call('ZRANGE', key, rank, stop)
    if #ids == 0 then return {chosen, -1} end
    for _, id in ipairs(ids) do
      rank = rank + 1
      if id >= bound then return {chosen, -1} end
      local r = load(id)
      if r and TERMINAL[r.state] and r.finished and tonumber(r.finished) < before then
        local more = redis.call('HMGET', P .. 'run:' .. id, 'sched', 'ikey', 'flow', 'reason')
        r.sched, r.ikey, r.flow, r.reason = more[1], more[2], more[3], more[4]
        if not r.flow or flow_over(r.flow) then chosen[#chosen + 1] = r end
      end
      if #chosen >= wanted then return {chosen, rank} end
    end
  end
  if rank > last then rank = -1 end
  return {chosen, rank}
end

-- script: prune_runs (head, runs, pruning)
-- ARGV: prefix, job, ended before (us), limit, keep_last, id bound. Deletes up to limit
-- runs of the job (see the pruning part) with their attempts, events and index entries; a
-- scheduled run's fire goes into the ledger first. Returns how many.
do
  local job, before, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
  local found = prunable(job, before, tonumber(ARGV[5]), ARGV[6], 0, math.huge, limit)
  local chosen = found[1]
  for _, r in ipairs(chosen) do
    local id = r.id
    if r.trigger == 'schedule' and r.sched then
      local entry = cjson.encode({r = id, s = r.state, f = r.finished or false,
                                  w = r.reason or false})
      redis.call('HSET', P .. 'ledger:' .. job, r.sched, entry)
      redis.call('ZADD', P .. 'ledger-at:' .. job, r.sched, r.sched)
      redis.call('ZADD', P .. 'ledger', r.sched, job .. ' ' .. r.sched)
    end
    index(r, false)
    redis.call('ZREM', P .. 'runs', id)
    redis.call('ZREM', P .. 'job-runs:' .. job, id)
    if r.sched and redis.call('HGET', P .. 'fires:' .. job, r.sched) == id then
      redis.call('HDEL', P .. 'fires:' .. job, r.sched)
    end
    if r.ikey and redis.call('HGET', P .. 'keys:' .. job, r.ikey) == id then
      redis.call('HDEL', P .. 'keys:' .. job, r.ikey)
    end
    if r.flow then
      redis.call('SREM', P .. 'flow:' .. r.flow, id)
      if r.flow == id then redis.call('ZREM', P .. 'flows', id) end
    end
    for n = 1, tonumber(r.attempt or '0') do
      redis.call('DEL', P .. 'attempt:' .. id .. ':' .. n)
    end
    local eids = redis.call('LRANGE', P .. 'run-events:' .. id, 0, -1)
    for i, eid in ipairs(eids) do eids[i] = eid .. '-0' end
    for i = 1, #eids, 500 do
      redis.call('XDEL', P .. 'events', unpack(eids, i, math.min(i + 499, #eids)))
    end
    redis.call('DEL', P .. 'run-events:' .. id, P .. 'run:' .. id)
  end
  return #chosen
end

-- script: count_prunable (head, runs, pruning)
-- ARGV: prefix, job, ended before, keep_last, id bound, start rank, ranks to read. Counts
-- what prune_runs would delete among those ranks: {count, next rank or -1}. Python calls
-- it again from the next rank, so no one call holds Redis long.
do
  local found = prunable(ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5],
                         tonumber(ARGV[6]), tonumber(ARGV[7]), math.huge)
  return {#found[1], found[2]}
end

-- script: prune_alerts
-- ARGV: prefix, created before (its 19-digit listing member prefix), limit, offset, read at
-- most. Deletes up to limit settled (not pending) alerts made before then, oldest first,
-- with their index entries; with limit 0 counts them instead, among the members from
-- offset on. Returns {settled alerts found, members read}.
do
  local P, before, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
  local members = redis.call('ZRANGEBYLEX', P .. 'alerts', '-', '(' .. before, 'LIMIT', ARGV[4],
                             ARGV[5])
  local n = 0
  for _, m in ipairs(members) do
    local id = string.sub(m, string.find(m, ':', 1, true) + 1)
    local v = redis.call('HMGET', P .. 'alert:' .. id, 'state', 'job')
    if v[1] and v[1] ~= 'pending' then
      n = n + 1
      if limit > 0 then
        redis.call('DEL', P .. 'alert:' .. id)
        redis.call('ZREM', P .. 'alerts', m)
        if v[2] then redis.call('ZREM', P .. 'job-alerts:' .. v[2], m) end
        redis.call('ZREM', P .. 'alerts-due', id)
        if n >= limit then break end
      end
    end
  end
  return {n, #members}
end

-- script: prune_silences
-- ARGV: prefix, before (us), limit (0: count). Deletes up to limit silences that ended
-- before then (or counts them). Returns how many.
do
  local P, before, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
  local flat = redis.call('HGETALL', P .. 'silences')
  local n = 0
  for i = 1, #flat, 2 do
    local ok, s = pcall(cjson.decode, flat[i + 1])
    if ok and type(s) == 'table' and tonumber(s['until']) and tonumber(s['until']) < before then
      if limit > 0 and n >= limit then break end
      n = n + 1
      if limit > 0 then redis.call('HDEL', P .. 'silences', flat[i]) end
    end
  end
  return n
end

-- script: prune_ledger
-- ARGV: prefix, before (us), limit. Deletes up to limit ledger rows of fires before then,
-- oldest first. Returns how many.
do
  local P = ARGV[1]
  local members = redis.call('ZRANGEBYSCORE', P .. 'ledger', '-inf', '(' .. ARGV[2], 'LIMIT',
                             '0', ARGV[3])
  for _, m in ipairs(members) do
    local space = string.find(m, ' ', 1, true)
    local job, at = string.sub(m, 1, space - 1), string.sub(m, space + 1)
    redis.call('HDEL', P .. 'ledger:' .. job, at)
    redis.call('ZREM', P .. 'ledger-at:' .. job, at)
    redis.call('ZREM', P .. 'ledger', m)
  end
  return #members
end

-- script: read_ledger
-- ARGV: prefix, job, since (us), until (us), limit. {fire time, entry JSON} pairs, flat,
-- oldest first.
do
  local P, job = ARGV[1], ARGV[2]
  local out = {}
  local ats = redis.call('ZRANGEBYSCORE', P .. 'ledger-at:' .. job, ARGV[3], '(' .. ARGV[4],
                         'LIMIT', '0', ARGV[5])
  for _, at in ipairs(ats) do
    local entry = redis.call('HGET', P .. 'ledger:' .. job, at)
    if entry then
      out[#out + 1] = at
      out[#out + 1] = entry
    end
  end
  return out
end

-- script: prune_audit
-- ARGV: prefix, before (us), limit (0: count), offset, read at most. Walks the audit log
-- oldest first (ids grow with time) and stops at the first entry made at or after before;
-- deletes up to limit entries before it with their index entries (or, with limit 0, counts
-- them from offset on). Returns {entries found, 1 when the walk reached its end}.
do
  local P, before, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
  local ids = redis.call('ZRANGE', P .. 'audit', ARGV[4], tonumber(ARGV[4]) + tonumber(ARGV[5]) - 1)
  local n = 0
  for _, id in ipairs(ids) do
    local text = redis.call('HGET', P .. 'audit-entries', id)
    local ok, e = pcall(cjson.decode, text or '')
    if ok and type(e) == 'table' and tonumber(e.at) and tonumber(e.at) >= before then
      return {n, 1}
    end
    n = n + 1
    if limit > 0 then
      redis.call('HDEL', P .. 'audit-entries', id)
      redis.call('ZREM', P .. 'audit', id)
      if ok and type(e) == 'table' then
        if e.actor then redis.call('ZREM', P .. 'audit-actor:' .. e.actor, id) end
        if e.target then redis.call('ZREM', P .. 'audit-target:' .. e.target, id) end
      end
      if n >= limit then return {n, 0} end
    end
  end
  if #ids < tonumber(ARGV[5]) then return {n, 1} end
  return {n, 0}
end
