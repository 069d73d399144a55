-- The helpers the Redis store's scripts share (tss/store/redis/scripts.py puts each
-- script together: see its docstring for the order of the parts).
--
-- Written in from Python before these parts, so defined here for the reader only:
--   RUN_FIELDS  a run's fields in the order a row gives them (tss.store.redis.codec)
--   ACTIVE, TERMINAL, CANCELLABLE  sets of state names (tss.core.states)
--   SATISFIES   parent condition -> the end states that meet it (tss.core.flows)

-- part: head
-- The prefix and row(id): a run as one JSON array of its fields (false where missing), or
-- false. One string per run instead of a hash's 50: far less for the client to parse.
local P = ARGV[1]
local function row(id)
  local v = redis.call('HMGET', P .. 'run:' .. id, unpack(RUN_FIELDS))
  if not v[1] then return false end
  return cjson.encode(v)
end

-- part: runs
-- The helpers of every script that writes runs.
local function us(n) return string.format('%.0f', n) end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local FIELDS = {'state', 'job', 'pool', 'prio', 'queued', 'nb', 'created', 'lease', 'started',
                'tmo', 'pub', 'finished', 'attempt', 'trigger', 'handbacks'}

-- The fields of a run the indexes and transitions need (false where missing), or nil.
local function load(id)
  local v = redis.call('HMGET', P .. 'run:' .. id, unpack(FIELDS))
  if not v[1] then return nil end
  local r = {id = id}
  for i, name in ipairs(FIELDS) do r[name] = v[i] end
  return r
end

local function zset(on, key, score, member)
  if on then redis.call('ZADD', key, score, member) else redis.call('ZREM', key, member) end
end

-- Put a run into (on) or take it out of (not on) the indexes its fields call for.
local function index(r, on)
  local id, s = r.id, r.state
  zset(on, P .. 'state:' .. s, '0', id)
  if ACTIVE[s] then redis.call(on and 'SADD' or 'SREM', P .. 'active:' .. r.job, id) end
  if s == 'scheduled' or s == 'retrying' then
    zset(on, P .. 'pending', r.nb or r.created, id)
  elseif s == 'queued' then
    local member = string.format('%017.0f', tonumber(r.queued)) .. ':' .. id
    zset(on, P .. 'queue:' .. r.pool, us(-tonumber(r.prio)), member)
    -- A claimer that found the pool's queue short armed it (claim_next): wake it, once.
    if on and redis.call('DEL', P .. 'armed:' .. r.pool) == 1 then
      redis.call('PUBLISH', P .. 'queued', r.pool)
    end
    if not on then
      redis.call('ZREM', P .. 'unpub', id)
      redis.call('ZREM', P .. 'pub', id)
    elseif r.pub then
      redis.call('ZADD', P .. 'pub', r.pub, id)
    else
      redis.call('ZADD', P .. 'unpub', r.queued, id)
    end
  elseif s == 'running' then
    if r.lease or not on then zset(on, P .. 'leased', r.lease, id) end
    if r.tmo and r.started then
      zset(on, P .. 'deadline', us(tonumber(r.started) + tonumber(r.tmo)), id)
    end
  elseif TERMINAL[s] then
    zset(on, P .. 'ended:' .. s, r.finished, id)
  end
end

-- Write changed fields (false: delete the field) to the hash and to r.
local function save(r, ch)
  local set, del = {}, {}
  for k, v in pairs(ch) do
    if v then
      set[#set + 1] = k
      set[#set + 1] = v
    else
      del[#del + 1] = k
    end
    r[k] = v
  end
  if #set > 0 then redis.call('HSET', P .. 'run:' .. r.id, unpack(set)) end
  if #del > 0 then redis.call('HDEL', P .. 'run:' .. r.id, unpack(del)) end
end

local function event(id, job, source, target, actor, reason, attempt, at)
  local eid = us(redis.call('INCR', P .. 'event-id'))
  local e = cjson.encode({at, id, job, source, target, actor, reason, attempt})
  redis.call('XADD', P .. 'events', eid .. '-0', 'e', e)
  redis.call('RPUSH', P .. 'run-events:' .. id, eid)
end

-- One transition (checked in Python against the state machine), its fields and its event.
local function move(r, target, actor, reason, now, ch)
  ch = ch or {}
  local source = r.state
  index(r, false)
  ch.state = target
  ch.updated = now
  if target == 'queued' then ch.queued = now; ch.pub = false end
  if source == 'running' then ch.lease = false end
  if TERMINAL[target] then ch.finished = now end
  save(r, ch)
  index(r, true)
  event(r.id, r.job, source, target, actor, reason, r.attempt, now)
end

-- The flows whose waiting runs this script may decide: settle_touched (flows.lua) settles
-- them before the script returns.
local TOUCHED = {}

-- Remember the flow of a run whose end may decide waiting runs.
local function touch(id)
  local flow = redis.call('HGET', P .. 'run:' .. id, 'flow')
  if flow then TOUCHED[flow] = true end
end

local function cancel(r, actor, why, now)
  touch(r.id)
  if r.state == 'running' then
    local akey = P .. 'attempt:' .. r.id .. ':' .. r.attempt
    if redis.call('EXISTS', akey) == 1 and not redis.call('HGET', akey, 'finished') then
      redis.call('HSET', akey, 'state', 'cancelled', 'finished', now)
    end
  end
  move(r, 'cancelled', actor, why, now, {reason = why})
end

-- tss.core.firing.made_ahead: whether r is a fire made ahead of its time that a pause, an
-- edit or a delete of its job withdraws: still scheduled (lookahead), or queued early with
-- its not_before still to come (announce_ahead). now is the time as text.
local function made_ahead(r, now)
  if r.trigger ~= 'schedule' then return false end
  if r.state == 'scheduled' then return true end
  return r.state == 'queued' and r.nb and r.nb ~= '' and tonumber(r.nb) > tonumber(now) or false
end

-- Withdraw a job's fires made ahead of their time (made_ahead): cancel them and free their
-- fire (no 'sched', out of the fires hash), so that the same fire can be made again.
-- Returns the earliest fire withdrawn, or false.
local function cancel_ahead(job, why, now)
  local earliest = false
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'active:' .. job)) do
    local r = load(id)
    if r and made_ahead(r, now) then
      cancel(r, 'user', why, now)
      local fire = redis.call('HGET', P .. 'run:' .. id, 'sched')
      if fire then
        redis.call('HDEL', P .. 'run:' .. id, 'sched')
        if redis.call('HGET', P .. 'fires:' .. job, fire) == id then
          redis.call('HDEL', P .. 'fires:' .. job, fire)
        end
        if not earliest or tonumber(fire) < tonumber(earliest) then earliest = fire end
      end
    end
  end
  return earliest
end

-- The job's next fire once fires made ahead were withdrawn: the earliest of them and its
-- stored next fire (tss.core.firing.rewound).
local function rewound(next_fire, earliest)
  if earliest and (not next_fire or next_fire == '' or tonumber(earliest) < tonumber(next_fire))
  then return earliest end
  return next_fire
end

-- The run that a new run would duplicate: same (job, idempotency key) or same fire.
local function existing(n)
  local found = false
  if n.ikey then found = redis.call('HGET', P .. 'keys:' .. n.job, n.ikey) end
  if not found and n.fire then found = redis.call('HGET', P .. 'fires:' .. n.job, n.fire) end
  return found
end

-- The id of the first new run whose id is taken by another run, or false. A run sent again
-- with its own id (a retried call whose reply was lost) is not a conflict: it is found.
local function taken(news)
  local keys, fires, ids = {}, {}, {}
  for _, n in ipairs(news) do
    local dup = existing(n) or (n.ikey and keys[n.job .. '|' .. n.ikey])
      or (n.fire and fires[n.job .. '|' .. n.fire])
    if not dup then
      local job = redis.call('HGET', P .. 'run:' .. n.id, 'job')
      if ids[n.id] or (job and job ~= n.job) then return n.id end
      ids[n.id] = true
      if n.ikey then keys[n.job .. '|' .. n.ikey] = true end
      if n.fire then fires[n.job .. '|' .. n.fire] = true end
    end
  end
  return false
end

-- Insert one new run unless it duplicates one: returns its id (or the existing run's) and
-- whether it was inserted.
local function insert(n, now, actor)
  local found = existing(n)
  if not found and redis.call('EXISTS', P .. 'run:' .. n.id) == 1 then found = n.id end
  if found then return found, false end
  local f = n.f
  f[#f + 1] = 'created'; f[#f + 1] = now
  f[#f + 1] = 'updated'; f[#f + 1] = now
  if n.state == 'queued' then f[#f + 1] = 'queued'; f[#f + 1] = now end
  if TERMINAL[n.state] then f[#f + 1] = 'finished'; f[#f + 1] = now end
  redis.call('HSET', P .. 'run:' .. n.id, unpack(f))
  redis.call('ZADD', P .. 'runs', '0', n.id)
  redis.call('ZADD', P .. 'job-runs:' .. n.job, '0', n.id)
  if n.flow then
    redis.call('SADD', P .. 'flow:' .. n.flow, n.id)
    if n.flow == n.id then redis.call('ZADD', P .. 'flows', '0', n.id) end
    if n.flow ~= n.id and not n.root then TOUCHED[n.flow] = true end
  end
  if n.ikey then redis.call('HSET', P .. 'keys:' .. n.job, n.ikey, n.id) end
  if n.fire then redis.call('HSET', P .. 'fires:' .. n.job, n.fire, n.id) end
  index(load(n.id), true)
  event(n.id, n.job, false, n.state, actor, n.reason or false, '0', now)
  return n.id, true
end
