-- Reads that want the store's clock or several keys in one round trip. Read only.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: find_unpublished (head)
-- ARGV: prefix, how long unpublished runs may wait (us), after how long published ones are
-- published again (us), limit. Read only. Returns candidate run rows (up to twice limit).
do
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local fresh = string.format('%.0f', now - tonumber(ARGV[2]))
  local stale = string.format('%.0f', now - tonumber(ARGV[3]))
  local out = {}
  for _, pair in ipairs({{'unpub', fresh}, {'pub', stale}}) do
    for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. pair[1], '-inf', pair[2],
                                   'LIMIT', '0', ARGV[4])) do
      out[#out + 1] = row(id)
    end
  end
  return out
end

-- part: queues
-- The first limit queued runs of pools, as {score, member} of their queue:<pool> zsets
-- (score -priority, member <queued_at:017>:<id>): highest priority, then oldest, then
-- lowest id first. string.sub(member, 19) is the run's id.
local function queue_heads(pools, limit)
  local all = {}
  for _, pool in ipairs(pools) do
    local got = redis.call('ZRANGE', P .. 'queue:' .. pool, '0', string.format('%d', limit - 1),
                           'WITHSCORES')
    for j = 1, #got, 2 do all[#all + 1] = {tonumber(got[j + 1]), got[j]} end
  end
  table.sort(all, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    return a[2] < b[2]
  end)
  return all
end

-- script: fetch_queued (head, queues)
-- ARGV: prefix, limit, pools. Read only. The first limit queued runs of the pools
-- (queue_heads).
do
  local limit = tonumber(ARGV[2])
  local pools = {}
  for i = 3, #ARGV do pools[#pools + 1] = ARGV[i] end
  local all = queue_heads(pools, limit)
  local out = {}
  for i = 1, math.min(limit, #all) do
    out[i] = row(string.sub(all[i][2], 19))
  end
  return out
end

-- script: due_in (head)
-- ARGV: prefix, index, offset (us), inclusive ('1'/'0'), limit. Read only. The runs in a
-- time index (leased, deadline) scored up to the store's now less the offset.
do
  local t = redis.call('TIME')
  local upper = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]) - tonumber(ARGV[3]))
  if ARGV[4] ~= '1' then upper = '(' .. upper end
  local out = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ARGV[2], '-inf', upper,
                                 'LIMIT', '0', ARGV[5])) do
    out[#out + 1] = row(id)
  end
  return out
end

-- script: last_runs (head)
-- ARGV: prefix, job names. Read only. The newest run's row of each job ('' for none).
do
  local out = {}
  for i = 2, #ARGV do
    local ids = redis.call('ZREVRANGEBYLEX', P .. 'job-runs:' .. ARGV[i], '+', '-', 'LIMIT', '0', '1')
    out[i - 1] = ids[1] and row(ids[1]) or ''

  end
  return out
end

-- script: run_rows (head)
-- ARGV: prefix, run ids. Read only. Their rows ('' for a run that does not exist).
do
  local out = {}
  for i = 2, #ARGV do out[i - 1] = row(ARGV[i]) or '' end
  return out
end

-- script: attempts
-- ARGV: prefix, run id. Read only. The run's attempts, first first; nil for no such run.
do
  local P, id = ARGV[1], ARGV[2]
  local n = redis.call('HGET', P .. 'run:' .. id, 'attempt')
  if not n then return false end
  local out = {}
  for i = 1, tonumber(n) do
    local h = redis.call('HGETALL', P .. 'attempt:' .. id .. ':' .. i)
    if #h > 0 then out[#out + 1] = h end
  end
  return out
end

-- script: logs
-- ARGV: prefix, run id, attempt ('' for the last). Read only.
-- Returns {'norun'}, {'noattempt'} or {'ok', stdout, stderr}.
do
  local P, id = ARGV[1], ARGV[2]
  local last = redis.call('HGET', P .. 'run:' .. id, 'attempt')
  if not last then return {'norun'} end
  local n = ARGV[3]
  if n == '' then n = last end
  local v = redis.call('HMGET', P .. 'attempt:' .. id .. ':' .. n, 'number', 'stdout', 'stderr')
  if not v[1] then return {'noattempt'} end
  return {'ok', v[2] or '', v[3] or ''}
end

-- script: run_events
-- ARGV: prefix, run id, after, limit. Read only. The run's events with an id above after.
do
  local P, after, limit = ARGV[1], tonumber(ARGV[3]), tonumber(ARGV[4])
  local out = {}
  for _, eid in ipairs(redis.call('LRANGE', P .. 'run-events:' .. ARGV[2], '0', '-1')) do
    if #out >= limit then break end
    if tonumber(eid) > after then
      local e = redis.call('XRANGE', P .. 'events', eid .. '-0', eid .. '-0')
      if e[1] then out[#out + 1] = e[1] end
    end
  end
  return out
end
