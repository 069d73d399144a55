"""The Lua scripts of the Redis store (see :mod:`tss.store.redis` for the key layout).

Every step that touches more than one key is one script, so Redis runs it whole with
nothing in between: that is what makes a claim, a fire or a finish atomic. A script that
writes reads the clock with ``TIME`` (the store's clock, guarantee 5); since Redis 5 a
script is replicated by its effects, so replicas and the AOF get the values, not the call.

Conventions shared by every script:

- ``ARGV[1]`` is the key prefix (``<prefix>:store:``); keys are built from it inside the
  script. That is why the store wants one Redis server (or a Sentinel group), not a Cluster.
- Times are integer microseconds since the epoch, always passed and stored as decimal
  strings written with ``%.0f``: Lua numbers are doubles, exact to 2^53 (year 2255), but
  Lua's and Redis's default number-to-text conversions use 14 significant digits.
- A script never fails half-way on purpose: everything that could refuse a batch is
  checked before the first write (Redis does not roll a script back).
- A run's hash holds its fields; the indexes (the key layout's zsets and sets) are derived
  from them by ``index()``,
  which every transition calls once to take the run out (old fields) and once to put it
  back (new fields), so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from tss.core.states import ACTIVE_STATES, TERMINAL_STATES, RunState, can_transition
from tss.store._redis_flows import FLOW_LIB, JOB_EDGES


def _lua_set(states: Iterable[RunState]) -> str:
    """A Lua table literal used as a set of state names."""
    return "{" + ", ".join(f"{state.value} = true" for state in sorted(states)) + "}"


#: the state machine's sets, written into the scripts from ``tss.core.states``
_STATE_SETS = (
    f"local ACTIVE = {_lua_set(ACTIVE_STATES)}\n"
    f"local TERMINAL = {_lua_set(TERMINAL_STATES)}\n"
    "local CANCELLABLE = "
    f"{_lua_set(s for s in RunState if can_transition(s, RunState.CANCELLED))}\n"
)

#: A run's fields in the order a row (one JSON array per run) gives them.
RUN_FIELDS = (
    "id", "job", "state", "trigger", "params", "prio", "pool", "policy", "attempt", "created",
    "updated", "sched", "nb", "queued", "started", "finished", "lease", "worker", "ikey",
    "result", "error", "reason", "retry_of", "flow", "handbacks",
)  # fmt: skip

#: The prefix and ``row(id)``: a run as one JSON array of its fields (false where missing),
#: or false. One string per run instead of a hash's 50: far less for the client to parse.
HEAD = (
    r"""
local P = ARGV[1]
local RUN_FIELDS = {"""
    + ", ".join(f"'{name}'" for name in RUN_FIELDS)
    + r"""}
local function row(id)
  local v = redis.call('HMGET', P .. 'run:' .. id, unpack(RUN_FIELDS))
  if not v[1] then return false end
  return cjson.encode(v)
end
"""
)

#: Helpers prepended to every script that writes runs.
LIB = (
    HEAD
    + r"""
local function us(n) return string.format('%.0f', n) end
local function clock()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end
"""
    + _STATE_SETS
    + r"""
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
"""
    + FLOW_LIB
    + r"""
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

-- Withdraw a job's fires made ahead of their time (scheduled runs with trigger 'schedule'),
-- or queued and announced ahead of it (not_before still to come): cancel them and free
-- their fire (no 'sched', out of the fires hash), so that the same fire can be made again.
-- Returns the earliest fire withdrawn, or false.
local function cancel_ahead(job, why, now)
  local earliest = false
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'active:' .. job)) do
    local r = load(id)
    local early = r and r.state == 'queued' and r.nb and r.nb ~= ''
                  and tonumber(r.nb) > tonumber(now)
    if r and r.trigger == 'schedule' and (r.state == 'scheduled' or early) then
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

"""
)

# ARGV: prefix, actor, JSON list of new runs ({id, job, state, ikey?, fire?, reason?, f}).
# Returns {'conflict', id} before any write, or {'ok', now, {{id, 1} | {id, 0, row}...}}.
CREATE_RUNS = (
    LIB
    + r"""
local actor, news = ARGV[2], cjson.decode(ARGV[3])
local bad = taken(news)
if bad then return {'conflict', bad} end
local now = us(clock())
local out, fresh_ids = {}, {}
for i, n in ipairs(news) do
  -- a flow's member goes in only with the run that starts the flow
  if not n.root or fresh_ids[n.root] then
    local id, fresh = insert(n, now, actor)
    if fresh then fresh_ids[id] = true end
    if not n.root then
      if fresh then out[i] = {id, 1} else out[i] = {id, 0, row(id)} end
    end
  end
end
settle_touched(actor, now)
return {'ok', now, out}
"""
)

# ARGV: prefix, horizon (us), limit, and optionally job names. Read only. Returns {now,
# {{job hash, active count}...}}: the unpaused jobs due by now + horizon, earliest first (ties
# by name); with names, those of them that are due, in the order given.
FIRE_READ = r"""
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
"""

# ARGV: prefix, actor, JSON list of plans ({name, seen, version, active, cancel, expect?,
# to?, runs}), the reason of a replace. Each plan was made in Python from FIRE_READ's view of
# its job; it is applied only if that view still holds (next fire, version, not paused,
# active count): otherwise another scheduler fired the job meanwhile, or it changed, and it
# is left out. Returns {now, how many jobs fired, {inserted run ids}, {names left out}}.
FIRE = (
    LIB
    + r"""
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
"""
)

# ARGV: prefix, actor, limit, ahead (us). Scheduled and retrying runs whose not_before has
# passed, or comes within ahead, go to queued, earliest first. Returns their rows.
PROMOTE = (
    LIB
    + r"""
local actor = ARGV[2]
local clock_now = clock()
local now, horizon = us(clock_now), us(clock_now + tonumber(ARGV[4]))
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. 'pending', '-inf', horizon,
                               'LIMIT', '0', ARGV[3])) do
  local r = load(id)
  if r and (r.state == 'scheduled' or r.state == 'retrying') then
    move(r, 'queued', actor, 'due', now)
    out[#out + 1] = row(id)
  else
    redis.call('ZREM', P .. 'pending', id)
  end
end
return out
"""
)

# ARGV: prefix, worker id, lease (us), run ids (distinct). Each run still queued goes to
# running with attempt + 1 (the fencing token), a lease and an open attempt; the others are
# left alone (a duplicate delivery). Returns the claimed runs' rows.
CLAIM = (
    LIB
    + r"""
local worker = ARGV[2]
local clock_now = clock()
local now, lease = us(clock_now), us(clock_now + tonumber(ARGV[3]))
local out = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local r = load(id)
  if r and r.state == 'queued' then
    local n = us(tonumber(r.attempt) + 1)
    move(r, 'running', worker, false, now,
         {attempt = n, started = now, worker = worker, lease = lease})
    redis.call('HSET', P .. 'attempt:' .. id .. ':' .. n, 'number', n, 'worker', worker,
               'state', 'running', 'started', now)
    out[#out + 1] = row(id)
  end
end
return out
"""
)

# ARGV: prefix, worker id, lease (us), how many runs it holds, then (run id, attempt) pairs.
# Records the worker alive and extends each lease still held by exactly that attempt.
# Returns the run ids the worker no longer holds.
HEARTBEAT = r"""
local P = ARGV[1]
local t = redis.call('TIME')
local clock_now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = string.format('%.0f', clock_now)
local lease = string.format('%.0f', clock_now + tonumber(ARGV[3]))
local wkey = P .. 'worker:' .. ARGV[2]
if redis.call('EXISTS', wkey) == 1 then
  redis.call('HSET', wkey, 'heartbeat', now, 'running', ARGV[4])
end
local lost = {}
for i = 5, #ARGV, 2 do
  local id, n = ARGV[i], ARGV[i + 1]
  local v = redis.call('HMGET', P .. 'run:' .. id, 'state', 'attempt')
  if v[1] == 'running' and v[2] == n then
    redis.call('HSET', P .. 'run:' .. id, 'lease', lease, 'updated', now)
    redis.call('ZADD', P .. 'leased', lease, id)
  else
    lost[#lost + 1] = id
  end
end
return lost
"""

# ARGV: prefix, actor, JSON list of outcomes ({id, n, target, expired, astate, delay, out,
# err, reason?, result?, error?}); targets were checked against the state machine. An
# outcome is accepted only when its run is running with exactly attempt n (fencing) and,
# with expired, its lease has run out. Returns 1 or 0 per outcome.
FINISH = (
    LIB
    + r"""
local actor, outcomes = ARGV[2], cjson.decode(ARGV[3])
local clock_now = clock()
local now = us(clock_now)
local accepted = {}
for i, o in ipairs(outcomes) do
  local r = load(o.id)
  if r and r.state == 'running' and r.attempt == o.n
      and not (o.expired and r.lease and tonumber(r.lease) > clock_now) then
    local ch = {error = o.error or false, result = o.result or false, reason = o.reason or false}
    if o.target == 'queued' then ch.handbacks = us(tonumber(r.handbacks or '0') + 1) end
    if o.target == 'retrying' then ch.nb = us(clock_now + tonumber(o.delay)) end
    move(r, o.target, actor, o.reason or false, now, ch)
    local akey = P .. 'attempt:' .. o.id .. ':' .. o.n
    if redis.call('EXISTS', akey) == 1 then
      redis.call('HSET', akey, 'state', o.astate, 'finished', now, 'stdout', o.out,
                 'stderr', o.err)
      if o.error then redis.call('HSET', akey, 'error', o.error) end
      if o.result then redis.call('HSET', akey, 'result', o.result) end
    end
    if TERMINAL[o.target] then touch(o.id) end
    accepted[i] = 1
  else
    accepted[i] = 0
  end
end
settle_touched(actor, now)
return accepted
"""
)

# ARGV: prefix, actor, reason, run ids (distinct). Cancels the runs that are not terminal,
# closing a running one's attempt. Returns the cancelled runs' rows.
CANCEL = (
    LIB
    + r"""
local actor, why = ARGV[2], ARGV[3]
local now = us(clock())
local out = {}
for i = 4, #ARGV do
  local r = load(ARGV[i])
  if r and CANCELLABLE[r.state] then
    cancel(r, actor, why, now)
    out[#out + 1] = row(r.id)
  end
end
settle_touched(actor, now)
return out
"""
)

# ARGV: prefix, actor, reason, error (JSON), run ids (distinct). Fails the runs that are
# still queued, without an attempt (no live worker can take them). Returns their rows.
FAIL_QUEUED = (
    LIB
    + r"""
local actor, why, err = ARGV[2], ARGV[3], ARGV[4]
local now = us(clock())
local out = {}
for i = 5, #ARGV do
  local r = load(ARGV[i])
  if r and r.state == 'queued' then
    touch(r.id)
    move(r, 'failed', actor, why, now, {reason = why, error = err})
    out[#out + 1] = row(r.id)
  end
end
settle_touched(actor, now)
return out
"""
)

# ARGV: prefix, run ids. Records that these runs were handed to the broker (the outbox).
MARK_PUBLISHED = (
    LIB
    + r"""
local now = us(clock())
for i = 2, #ARGV do
  local r = load(ARGV[i])
  if r then
    if r.state == 'queued' then index(r, false) end
    save(r, {pub = now})
    if r.state == 'queued' then index(r, true) end
  end
end
return 0
"""
)

# ARGV: prefix, then (run id, attempt, stdout, stderr) quads. Attempts that ended keep
# their final logs.
SAVE_LOGS = r"""
local P = ARGV[1]
for i = 2, #ARGV, 4 do
  local akey = P .. 'attempt:' .. ARGV[i] .. ':' .. ARGV[i + 1]
  if redis.call('EXISTS', akey) == 1 and not redis.call('HGET', akey, 'finished') then
    redis.call('HSET', akey, 'stdout', ARGV[i + 2], 'stderr', ARGV[i + 3])
  end
end
return 0
"""

# -- jobs --------------------------------------------------------------------------------------

# ARGV: prefix, name, spec, next fire ('' for none), paused ('1'/'0').
# Returns the creation time, or nil when the name is taken.
CREATE_JOB = (
    LIB
    + JOB_EDGES
    + r"""
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
"""
)

# ARGV: prefix, name, spec, next fire ('' for none), paused, expected version ('' for any),
# '1' when the fires made ahead are made again (the schedule is the same), the spec that
# was decided on. Withdraws the fires made ahead. Returns {'missing'}, {'stale', version},
# {'moved'} (the spec is no longer the one decided on: decide again) or
# {'ok', created, version, now, next fire}.
UPDATE_JOB = (
    LIB
    + JOB_EDGES
    + r"""
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
"""
)

# ARGV: prefix, name, paused ('1'/'0'). Pausing cancels the fires made ahead of time.
# Returns the job's hash, or nil when there is no such job.
SET_PAUSED = (
    LIB
    + r"""
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
"""
)

# ARGV: prefix, name. Deletes the job (its runs stay) and cancels its fires made ahead.
# Returns 1, or 0 when there is no such job.
DELETE_JOB = (
    LIB
    + JOB_EDGES
    + r"""
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
"""
)

# -- reads that want the store's clock or several keys in one round trip -----------------------

# ARGV: prefix, how long unpublished runs may wait (us), after how long published ones are
# published again (us), limit. Read only. Returns candidate run rows (up to twice limit).
FIND_UNPUBLISHED = (
    HEAD
    + r"""
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
"""
)

# ARGV: prefix, limit, pools. Read only. The first ``limit`` queued runs of the pools, highest
# priority, then oldest, then lowest id first.
FETCH_QUEUED = (
    HEAD
    + r"""
local limit = tonumber(ARGV[2])
local all = {}
for i = 3, #ARGV do
  local got = redis.call('ZRANGE', P .. 'queue:' .. ARGV[i], '0', string.format('%d', limit - 1),
                         'WITHSCORES')
  for j = 1, #got, 2 do all[#all + 1] = {tonumber(got[j + 1]), got[j]} end
end
table.sort(all, function(a, b)
  if a[1] ~= b[1] then return a[1] < b[1] end
  return a[2] < b[2]
end)
local out = {}
for i = 1, math.min(limit, #all) do
  out[i] = row(string.sub(all[i][2], 19))
end
return out
"""
)

# ARGV: prefix, index, offset (us), inclusive ('1'/'0'), limit. Read only. The runs in a
# time index (``leased``, ``deadline``) scored up to the store's now less the offset.
DUE_IN = (
    HEAD
    + r"""
local t = redis.call('TIME')
local upper = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]) - tonumber(ARGV[3]))
if ARGV[4] ~= '1' then upper = '(' .. upper end
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P .. ARGV[2], '-inf', upper,
                               'LIMIT', '0', ARGV[5])) do
  out[#out + 1] = row(id)
end
return out
"""
)

# ARGV: prefix, job names. Read only. The newest run's row of each job ('' for none).
LAST_RUNS = (
    HEAD
    + r"""
local out = {}
for i = 2, #ARGV do
  local ids = redis.call('ZREVRANGEBYLEX', P .. 'job-runs:' .. ARGV[i], '+', '-', 'LIMIT', '0', '1')
  out[i - 1] = ids[1] and row(ids[1]) or ''

end
return out
"""
)

# ARGV: prefix, run ids. Read only. Their rows ('' for a run that does not exist).
RUN_ROWS = (
    HEAD
    + r"""
local out = {}
for i = 2, #ARGV do out[i - 1] = row(ARGV[i]) or '' end
return out
"""
)

# ARGV: prefix, run id. Read only. The run's attempts, first first; nil for no such run.
ATTEMPTS = r"""
local P, id = ARGV[1], ARGV[2]
local n = redis.call('HGET', P .. 'run:' .. id, 'attempt')
if not n then return false end
local out = {}
for i = 1, tonumber(n) do
  local h = redis.call('HGETALL', P .. 'attempt:' .. id .. ':' .. i)
  if #h > 0 then out[#out + 1] = h end
end
return out
"""

# ARGV: prefix, run id, attempt ('' for the last). Read only.
# Returns {'norun'}, {'noattempt'} or {'ok', stdout, stderr}.
LOGS = r"""
local P, id = ARGV[1], ARGV[2]
local last = redis.call('HGET', P .. 'run:' .. id, 'attempt')
if not last then return {'norun'} end
local n = ARGV[3]
if n == '' then n = last end
local v = redis.call('HMGET', P .. 'attempt:' .. id .. ':' .. n, 'number', 'stdout', 'stderr')
if not v[1] then return {'noattempt'} end
return {'ok', v[2] or '', v[3] or ''}
"""

# ARGV: prefix, run id, after, limit. Read only. The run's events with an id above after.
RUN_EVENTS = r"""
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
"""

# -- workers -----------------------------------------------------------------------------------

# ARGV: prefix, worker id, then field/value pairs. Replaces the worker's record: up, seen now.
REGISTER_WORKER = r"""
local P = ARGV[1]
local t = redis.call('TIME')
local now = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
local key = P .. 'worker:' .. ARGV[2]
redis.call('DEL', key)
redis.call('HSET', key, unpack(ARGV, 3))
redis.call('HSET', key, 'state', 'up', 'heartbeat', now)
if redis.call('HEXISTS', key, 'started') == 0 then redis.call('HSET', key, 'started', now) end
redis.call('SADD', P .. 'workers', ARGV[2])
return 0
"""

# ARGV: prefix, worker id, state. Returns 1, or 0 for no such worker.
SET_WORKER_STATE = r"""
local key = ARGV[1] .. 'worker:' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then return 0 end
redis.call('HSET', key, 'state', ARGV[3])
return 1
"""

# ARGV: prefix, silence (us). Marks up/draining workers silent that long dead; returns them.
MARK_DEAD = r"""
local P = ARGV[1]
local t = redis.call('TIME')
local limit = tonumber(t[1]) * 1000000 + tonumber(t[2]) - tonumber(ARGV[2])
local dead = {}
for _, id in ipairs(redis.call('SMEMBERS', P .. 'workers')) do
  local key = P .. 'worker:' .. id
  local v = redis.call('HMGET', key, 'state', 'heartbeat', 'started')
  local seen = v[2] or v[3]
  if (v[1] == 'up' or v[1] == 'draining') and (not seen or tonumber(seen) <= limit) then
    redis.call('HSET', key, 'state', 'dead')
    dead[#dead + 1] = id
  end
end
return dead
"""

# -- API tokens --------------------------------------------------------------------------------

# ARGV: prefix, token id, created (us), then field/value pairs. Returns 1, or 0 if the id
# is taken.
CREATE_TOKEN = r"""
local P = ARGV[1]
local key = P .. 'token:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, unpack(ARGV, 4))
redis.call('ZADD', P .. 'tokens', ARGV[3], ARGV[2])
return 1
"""

# ARGV: prefix, id or name. Revokes the unrevoked tokens with that id or name, oldest first.
# Returns their hashes, or nil when no token has that id or name.
REVOKE_TOKENS = r"""
local P, which = ARGV[1], ARGV[2]
local t = redis.call('TIME')
local now = string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2]))
local found, out = false, {}
for _, id in ipairs(redis.call('ZRANGE', P .. 'tokens', '0', '-1')) do
  local key = P .. 'token:' .. id
  local v = redis.call('HMGET', key, 'name', 'revoked')
  if id == which or v[1] == which then
    found = true
    if not v[2] then
      redis.call('HSET', key, 'revoked', now)
      out[#out + 1] = redis.call('HGETALL', key)
    end
  end
end
if not found then return false end
return out
"""

# ARGV: prefix, token id. Records its use now; unknown ids are ignored.
TOUCH_TOKEN = r"""
local key = ARGV[1] .. 'token:' .. ARGV[2]
if redis.call('EXISTS', key) == 0 then return 0 end
local t = redis.call('TIME')
redis.call('HSET', key, 'used', string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])))
return 1
"""

# ARGV: prefix, id hash, expiry (ms since the epoch), then the hash's field/value pairs.
# Makes the session unless one has that id; Redis drops it at its expiry. Returns 1 or 0.
CREATE_SESSION = r"""
local key = ARGV[1] .. 'session:' .. ARGV[2]
if redis.call('EXISTS', key) == 1 then return 0 end
redis.call('HSET', key, unpack(ARGV, 4))
redis.call('PEXPIREAT', key, ARGV[3])
return 1
"""
