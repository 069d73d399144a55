-- Job definitions: create, update, pause and delete; the last three withdraw the fires
-- made ahead of their time.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: create_job (head, runs, flows, edges, versions)
-- ARGV: prefix, name, spec, next fire ('' for none), paused ('1'/'0'), actor, change (the
-- version's: 'created' or 'rolled_back'). Returns the creation time, or nil when the name
-- is taken.
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
  add_version(name, now, ARGV[6], ARGV[7], spec)
  return now
end

-- script: update_job (head, runs, flows, edges, versions)
-- ARGV: prefix, name, spec, next fire ('' for none), paused, expected version ('' for any),
-- '1' when the fires made ahead are made again (the schedule is the same), the spec that
-- was decided on, actor, change (the version's: 'updated' or 'rolled_back'). Withdraws the fires made ahead. Returns {'missing'}, {'stale', version},
-- {'moved'} (the spec is no longer the one decided on: decide again) or
-- {'ok', created, version, now, next fire, pause}. A job left unpaused keeps no pause
-- (pause is '' then, or when it had none).
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
  add_version(name, now, ARGV[9], ARGV[10], spec)
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
  if paused ~= '1' then
    redis.call('HDEL', key, 'pause')
    redis.call('ZREM', P .. 'pause-until', name)
  end
  return {'ok', v[1], version, now, next_fire, redis.call('HGET', key, 'pause') or ''}
end

-- script: set_paused (head, runs, flows)
-- ARGV: prefix, name, paused ('1'/'0'), the pause (JSON, '' for none), its end ('' for
-- none). Pausing cancels the fires made ahead of time and keeps the pause (and its end in
-- pause-until); resuming drops both. Returns the job's hash, or nil when there is no such
-- job.
do
  local name, paused, pause, pause_until = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
  local key = P .. 'job:' .. name
  if redis.call('EXISTS', key) == 0 then return false end
  local now = us(clock())
  redis.call('HSET', key, 'paused', paused, 'updated', now)
  if paused == '1' and pause ~= '' then
    redis.call('HSET', key, 'pause', pause)
  else
    redis.call('HDEL', key, 'pause')
  end
  if paused == '1' and pause_until ~= '' then
    redis.call('ZADD', P .. 'pause-until', pause_until, name)
  else
    redis.call('ZREM', P .. 'pause-until', name)
  end
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

-- script: delete_job (head, runs, flows, edges, versions)
-- ARGV: prefix, name, actor. Deletes the job (its runs and versions stay; one more records
-- the deletion) and cancels its fires made ahead. Returns 1, or 0 when there is no such job.
do
  local name = ARGV[2]
  local spec = redis.call('HGET', P .. 'job:' .. name, 'spec')
  if redis.call('DEL', P .. 'job:' .. name) == 0 then return 0 end
  set_edges(name, spec, false)
  redis.call('ZREM', P .. 'jobs', name)
  redis.call('ZREM', P .. 'due', name)
  redis.call('ZREM', P .. 'pause-until', name)
  local now = us(clock())
  cancel_ahead(name, 'job deleted', now)
  settle_touched('user', now)
  add_version(name, now, ARGV[3], 'deleted', false)
  return 1
end
