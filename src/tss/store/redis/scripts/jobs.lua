-- Job definitions: create, update, pause and delete; the last three withdraw the fires
-- made ahead of their time.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: create_job (head, runs, flows, edges)
-- ARGV: prefix, name, spec, next fire ('' for none), paused ('1'/'0').
-- Returns the creation time, or nil when the name is taken.
do
  local name, spec, next_fire, paused = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
  local key = P .. 'job:' .. name
  if redis.call('EXISTS', key) == 1 then return false end
  local now = us(clock())
  redis.call('HSET', key, 'name', name, 'spec', spec, 'created', now, 'updated', now,
             'version', '1', 'paused', paused)
  if next_fire ~= '' then
    redis.call('HSET', key, 'next', next_fire)
    if paused ~= '1' then redis.call('ZADD', P .. 'due', next_fire, name) end
  end
  redis.call('ZADD', P .. 'jobs', '0', name)
  set_edges(name, false, spec)
  return now
end

-- script: update_job (head, runs, flows, edges)
-- ARGV: prefix, name, spec, next fire ('' for none), paused, expected version ('' for any),
-- '1' when the fires made ahead are made again (the schedule is the same), the spec that
-- was decided on. Withdraws the fires made ahead. Returns {'missing'}, {'stale', version},
-- {'moved'} (the spec is no longer the one decided on: decide again) or
-- {'ok', created, version, now, next fire}.
do
  local name, spec, next_fire, paused, want = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
  local refire, seen = ARGV[7], ARGV[8]
  local key = P .. 'job:' .. name
  local v = redis.call('HMGET', key, 'created', 'version', 'spec')
  if not v[1] then return {'missing'} end
  if want ~= '' and want ~= v[2] then return {'stale', v[2]} end
  if v[3] ~= seen then return {'moved'} end
  local now = us(clock())
  local version = us(tonumber(v[2]) + 1)
  local earliest = cancel_ahead(name, 'job changed', now)
  if refire == '1' then next_fire = rewound(next_fire, earliest) end
  settle_touched('user', now)
  set_edges(name, v[3], spec)
  redis.call('HSET', key, 'spec', spec, 'updated', now, 'version', version, 'paused', paused)
  if next_fire ~= '' then
    redis.call('HSET', key, 'next', next_fire)
  else
    redis.call('HDEL', key, 'next')
  end
  if next_fire ~= '' and paused ~= '1' then
    redis.call('ZADD', P .. 'due', next_fire, name)
  else
    redis.call('ZREM', P .. 'due', name)
  end
  return {'ok', v[1], version, now, next_fire}
end

-- script: set_paused (head, runs, flows)
-- ARGV: prefix, name, paused ('1'/'0'). Pausing cancels the fires made ahead of time.
-- Returns the job's hash, or nil when there is no such job.
do
  local name, paused = ARGV[2], ARGV[3]
  local key = P .. 'job:' .. name
  if redis.call('EXISTS', key) == 0 then return false end
  local now = us(clock())
  redis.call('HSET', key, 'paused', paused, 'updated', now)
  if paused == '1' then
    redis.call('ZREM', P .. 'due', name)
    local earliest = cancel_ahead(name, 'job paused', now)
    if earliest then
      redis.call('HSET', key, 'next', rewound(redis.call('HGET', key, 'next'), earliest))
    end
    settle_touched('user', now)
  else
    local next_fire = redis.call('HGET', key, 'next')
    if next_fire then redis.call('ZADD', P .. 'due', next_fire, name) end
  end
  return redis.call('HGETALL', key)
end

-- script: delete_job (head, runs, flows, edges)
-- ARGV: prefix, name. Deletes the job (its runs stay) and cancels its fires made ahead.
-- Returns 1, or 0 when there is no such job.
do
  local name = ARGV[2]
  local spec = redis.call('HGET', P .. 'job:' .. name, 'spec')
  if redis.call('DEL', P .. 'job:' .. name) == 0 then return 0 end
  set_edges(name, spec, false)
  redis.call('ZREM', P .. 'jobs', name)
  redis.call('ZREM', P .. 'due', name)
  local now = us(clock())
  cancel_ahead(name, 'job deleted', now)
  settle_touched('user', now)
  return 1
end

-- script: delete_ended (head, runs)
-- ARGV: prefix, job, ended before (microseconds), limit. Deletes up to limit runs of the
-- job that have ended before that time, oldest first, with their attempts, events and
-- index entries, none of a flow that has a run still going. Returns how many.
do
  local job, before, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
  local function flow_over(flow)
    for _, m in ipairs(redis.call('SMEMBERS', P .. 'flow:' .. flow)) do
      local s = redis.call('HGET', P .. 'run:' .. m, 'state')
      if s and not TERMINAL[s] then return false end
    end
    return true
  end
  local chosen, rank = {}, 0
  while #chosen < limit do
    local ids = redis.call('ZRANGE', P .. 'job-runs:' .. job, rank, rank + 199)
    if #ids == 0 then break end
    rank = rank + #ids
    for _, id in ipairs(ids) do
      local r = load(id)
      if r and TERMINAL[r.state] and r.finished and tonumber(r.finished) < before then
        local more = redis.call('HMGET', P .. 'run:' .. id, 'sched', 'ikey', 'flow')
        r.sched, r.ikey, r.flow = more[1], more[2], more[3]
        if not r.flow or flow_over(r.flow) then chosen[#chosen + 1] = r end
      end
      if #chosen >= limit then break end
    end
  end
  for _, r in ipairs(chosen) do
    local id = r.id
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
