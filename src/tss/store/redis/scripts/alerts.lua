-- Alerts (Store.add_alerts, due_alerts, settle_alerts) and the alert keeper's lease
-- (Store.take_lease, save_lease). tss/store/redis/alerts.py has the key layout.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it,
-- then its body (these name none).

-- script: add_alerts
-- ARGV: prefix, JSON list of alerts ({id, m (listing member), next, state, job?, f (the
-- hash's field/value pairs)}). Stores each alert whose id is not stored yet, with its
-- index entries. Returns 1 (stored) or 0 (the id was stored already) per alert.
do
  local P, items = ARGV[1], cjson.decode(ARGV[2])
  local added = {}
  for i, a in ipairs(items) do
    local key = P .. 'alert:' .. a.id
    if redis.call('EXISTS', key) == 1 then
      added[i] = 0
    else
      redis.call('HSET', key, unpack(a.f))
      redis.call('ZADD', P .. 'alerts', '0', a.m)
      if a.job then redis.call('ZADD', P .. 'job-alerts:' .. a.job, '0', a.m) end
      if a.state == 'pending' then redis.call('ZADD', P .. 'alerts-due', a.next, a.id) end
      added[i] = 1
    end
  end
  return added
end

-- script: due_alerts
-- ARGV: prefix, limit. The hashes (HGETALL, flat) of up to limit pending alerts whose next
-- time has come (TIME), oldest next time first, then by id.
do
  local P = ARGV[1]
  local t = redis.call('TIME')
  local now = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
  local out = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'alerts-due', '-inf', now, 'LIMIT', '0',
                                 ARGV[2])) do
    local h = redis.call('HGETALL', P .. 'alert:' .. id)
    if #h > 0 then out[#out + 1] = h end
  end
  return out
end

-- script: settle_alerts
-- ARGV: prefix, JSON list of updates ({id, state, attempts, next?, error?, sent?}; a
-- missing error or sent is deleted, a missing next is left). Unknown ids are ignored. An
-- alert stays in the due index only when its new state is pending (at its next time).
do
  local P, updates = ARGV[1], cjson.decode(ARGV[2])
  for _, u in ipairs(updates) do
    local key = P .. 'alert:' .. u.id
    if redis.call('EXISTS', key) == 1 then
      redis.call('HSET', key, 'state', u.state, 'attempts', u.attempts)
      if u.next then redis.call('HSET', key, 'next', u.next) end
      for _, name in ipairs({'error', 'sent'}) do
        if u[name] then
          redis.call('HSET', key, name, u[name])
        else
          redis.call('HDEL', key, name)
        end
      end
      if u.state == 'pending' then
        local next = redis.call('HGET', key, 'next')
        if next then redis.call('ZADD', P .. 'alerts-due', next, u.id) end
      else
        redis.call('ZREM', P .. 'alerts-due', u.id)
      end
    end
  end
  return 0
end

-- script: take_lease
-- ARGV: prefix, name, holder, ttl (us). Holds the lease until now (TIME) + ttl when it is
-- free, expired or held by holder already, and returns the state saved with it (JSON
-- text, '{}' at first); false when another holder has it.
do
  local key = ARGV[1] .. 'lease:' .. ARGV[2]
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local v = redis.call('HMGET', key, 'holder', 'until', 'state')
  if v[1] and v[1] ~= ARGV[3] and (tonumber(v[2]) or 0) > now then return false end
  redis.call('HSET', key, 'holder', ARGV[3],
             'until', string.format('%.0f', now + tonumber(ARGV[4])))
  return v[3] or '{}'
end

-- script: save_lease
-- ARGV: prefix, name, holder, state (JSON text). Saves the state if holder holds the lease
-- (expired or not: nobody took it since). Returns 1, or 0 (nothing saved).
do
  local key = ARGV[1] .. 'lease:' .. ARGV[2]
  if redis.call('HGET', key, 'holder') ~= ARGV[3] then return 0 end
  redis.call('HSET', key, 'state', ARGV[4])
  return 1
end
