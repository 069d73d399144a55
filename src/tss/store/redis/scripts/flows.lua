-- Flows in the Redis store's scripts.
--
-- A script that ends a run of a flow (finish, cancel, and the cancels of a fire, a pause or
-- a delete) decides the flow's waiting runs before it returns, so the decision is as atomic
-- as the end itself. Lua cannot call Python, so settle() here is the one place that
-- restates tss.core.flows.decide; the condition table SATISFIES is written in from
-- tss.core.flows.SATISFIES (tss/store/redis/scripts.py), and the conformance suite (a
-- property test over random graphs among them) holds every store, this one included, to
-- the same decisions.
--
-- Keys: K flow:<id> set of a flow's run ids; K children:<job> set of the jobs that depend
-- on a job; K parents set of the jobs some job depends on.

-- part: flows
-- tss.core.flows.decide: the next state of a waiting run and why, or nil to wait on.
local function decide(r, states)
  local parents, met, first, missed = 0, 0, false, {}
  for _, d in ipairs(r.deps) do
    local job, on = d[1], d[2]
    local s = states[job]
    if s then
      parents = parents + 1
      if TERMINAL[s] then
        if SATISFIES[on][s] then
          met = met + 1
          first = first or job
        else
          missed[#missed + 1] = string.format("parent '%s' ended %s (needs %s)", job, s, on)
        end
      end
    end
  end
  if parents == 0 then return 'queued', 'no parent of this job is in the flow' end
  if r.rule == 'any' then
    if first then return 'queued', string.format("parent '%s' met its condition", first) end
    if #missed == parents then
      return 'skipped', 'no parent met its condition: ' .. table.concat(missed, '; ')
    end
    return nil
  end
  if #missed > 0 then return 'skipped', missed[1] end
  if met == parents then return 'queued', 'every parent met its condition' end
  return nil
end

-- tss.core.flows.settle over one flow: move its waiting runs that can be decided.
local function settle(flow, actor, now)
  local runs, replaced = {}, {}
  for _, id in ipairs(redis.call('SMEMBERS', P .. 'flow:' .. flow)) do
    local v = redis.call('HMGET', P .. 'run:' .. id, 'job', 'state', 'retry_of', 'policy')
    if v[1] then
      runs[#runs + 1] = {id = id, job = v[1], state = v[2], policy = v[4]}
      if v[3] then replaced[v[3]] = true end
    end
  end
  local states, current, waiting = {}, {}, {}
  for _, r in ipairs(runs) do
    if not replaced[r.id] then
      states[r.job] = r.state
      current[r.job] = r.id
    end
    if r.state == 'waiting' then
      local p = cjson.decode(r.policy)
      r.deps = p.depends_on or {}
      r.rule = p.trigger_rule or 'all'
      waiting[#waiting + 1] = r
    end
  end
  table.sort(waiting, function(a, b) return a.id < b.id end)
  local changed = true
  while changed and #waiting > 0 do
    changed = false
    local still = {}
    for _, r in ipairs(waiting) do
      local target, why = decide(r, states)
      if target then
        move(load(r.id), target, actor, why, now, {reason = why})
        if current[r.job] == r.id then states[r.job] = target end
        changed = true
      else
        still[#still + 1] = r
      end
    end
    waiting = still
  end
end

-- Settle every flow touched by this script (lib.lua's touch), in id order.
local function settle_touched(actor, now)
  local flows = {}
  for flow in pairs(TOUCHED) do flows[#flows + 1] = flow end
  table.sort(flows)
  TOUCHED = {}
  for _, flow in ipairs(flows) do settle(flow, actor, now) end
end

-- part: edges
-- For the scripts that write a job: keep children:<parent> and parents.
local function parents_of(spec)
  local out = {}
  if not spec then return out end
  local deps = cjson.decode(spec).depends_on
  if type(deps) == 'table' then
    for _, d in ipairs(deps) do out[#out + 1] = d.job end
  end
  return out
end

local function set_edges(name, old_spec, new_spec)
  for _, parent in ipairs(parents_of(old_spec)) do
    local key = P .. 'children:' .. parent
    redis.call('SREM', key, name)
    if redis.call('SCARD', key) == 0 then redis.call('SREM', P .. 'parents', parent) end
  end
  for _, parent in ipairs(parents_of(new_spec)) do
    redis.call('SADD', P .. 'children:' .. parent, name)
    redis.call('SADD', P .. 'parents', parent)
  end
end
