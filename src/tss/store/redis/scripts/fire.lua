-- Firing (Store.fire_due_jobs): one read of the due jobs, then the plans made in
-- Python applied only where the job is still as the planner saw it.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: fire_read
-- ARGV: prefix, horizon (us), limit, and optionally job names. Read only. Returns {now,
-- {{job hash, active count}...}}: the unpaused jobs due by now + horizon, earliest first (ties
-- by name); with names, those of them that are due, in the order given.
do
  local P = ARGV[1]
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local upto = now + tonumber(ARGV[2])
  local names = {}
  if #ARGV > 3 then
    for i = 4, #ARGV do
      local at = redis.call('ZSCORE', P .. 'due', ARGV[i])
      if at and tonumber(at) <= upto then names[#names + 1] = ARGV[i] end
    end
  else
    names = redis.call('ZRANGEBYSCORE', P .. 'due', '-inf', string.format('%.0f', upto),
                       'LIMIT', '0', ARGV[3])
  end
  local out = {}
  for _, name in ipairs(names) do
    local h = redis.call('HGETALL', P .. 'job:' .. name)
    if #h > 0 then out[#out + 1] = {h, redis.call('SCARD', P .. 'active:' .. name)} end
  end
  return {string.format('%.0f', now), out}
end

-- script: fire (head, runs, flows)
-- ARGV: prefix, actor, JSON list of plans ({name, seen, version, active, cancel, expect?,
-- to?, runs}), the reason of a replace. Each plan was made in Python from fire_read's view of
-- its job; it is applied only if that view still holds (next fire, version, not paused,
-- active count): otherwise another scheduler fired the job meanwhile, or it changed, and it
-- is left out. Returns {now, how many jobs fired, {inserted run ids}, {names left out}}.
do
  local actor, plans, replaced = ARGV[2], cjson.decode(ARGV[3]), ARGV[4]
  local now = us(clock())
  local fired, created, stale = 0, {}, {}
  for _, j in ipairs(plans) do
    local jkey = P .. 'job:' .. j.name
    local h = redis.call('HMGET', jkey, 'next', 'version', 'paused')
    local active = P .. 'active:' .. j.name
    if h[1] == j.seen and h[2] == j.version and h[3] ~= '1'
        and redis.call('SCARD', active) == j.active and not taken(j.runs) then
      fired = fired + 1
      if j.cancel then
        for _, id in ipairs(redis.call('SMEMBERS', active)) do
          local r = load(id)
          if r and CANCELLABLE[r.state] then cancel(r, actor, replaced, now) end
        end
      end
      local fresh_ids = {}
      for _, n in ipairs(j.runs) do
        if not n.root or fresh_ids[n.root] then
          local id, fresh = insert(n, now, actor)
          if fresh then
            fresh_ids[id] = true
            if not n.root then created[#created + 1] = id end
          end
        end
      end
      if j.expect == j.seen then
        if j.to then
          redis.call('HSET', jkey, 'next', j.to)
          redis.call('ZADD', P .. 'due', j.to, j.name)
        else
          redis.call('HDEL', jkey, 'next')
          redis.call('ZREM', P .. 'due', j.name)
        end
      end
    else
      stale[#stale + 1] = j.name
    end
  end
  settle_touched(actor, now)
  return {now, fired, created, stale}
end
