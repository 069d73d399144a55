-- Claims (Store.claim_runs, claim_next, finish_and_claim): attempt + 1 is the fencing token.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- part: claiming
-- Claim one queued run r for worker: attempt + 1 is the fencing token; a lease and an
-- open attempt.
local function claim_run(r, worker, now, lease)
  local n = us(tonumber(r.attempt) + 1)
  move(r, 'running', worker, false, now,
       {attempt = n, started = now, worker = worker, lease = lease})
  redis.call('HSET', P .. 'attempt:' .. r.id .. ':' .. n, 'number', n, 'worker', worker,
             'state', 'running', 'started', now)
  return row(r.id)
end

-- The most queued runs one claim looks at: runs of other task types, or requiring labels
-- the worker lacks, are passed over, up to this many (so one script stays short).
local MAX_SCAN = 10000

-- Whether a run with this policy text needs {cores, memory} and may be taken by a worker
-- with task types (a set, or false: any) and labels (a set): {cores, memory, may}. An
-- unreadable policy asks for nothing and may be taken by anyone: the worker quarantines it.
local function need_of(text, types, labels)
  local ok, policy = pcall(cjson.decode, text)
  if not ok or type(policy) ~= 'table' then return {0, 0, true} end
  local may = not types or types[policy.type] == true
  local requires = policy.requires
  if may and type(requires) == 'table' then
    for _, label in ipairs(requires) do
      if not labels[label] then may = false break end
    end
  end
  return {tonumber(policy.cores) or 0, tonumber(policy.memory) or 0, may}
end

-- The heads of queues, claimed (Store.claim_next): the first limit queued runs of the pools
-- (queue_heads in reads.lua) that the worker may take by task type and labels (need_of:
-- the others are passed over, so they never hold back the runs behind them), of which
-- those whose resources fit together in the free room (cores, memory in MB) are claimed,
-- in that order (tss.core.workers.Room.fit, restated: a run that does not fit is passed
-- over; one asking for no memory fits any memory). The heads are read in windows that grow
-- while runs are passed over. When fewer than limit runs it may take were queued, the
-- pools are armed: the next run queued in one of them publishes a notice (index() in
-- lib.lua). Returns the claimed rows.
local function claim_heads(worker, lease_us, limit, cores, memory, types, labels, pools)
  cores = cores + 1e-9
  local clock_now = clock()
  local now, lease = us(clock_now), us(clock_now + lease_us)
  local needs = {}  -- policy text -> need_of: the runs of a job share their policy
  local seen, out = {}, {}
  local found, window = 0, limit
  while true do
    local queued = 0  -- before this window's claims
    for _, pool in ipairs(pools) do queued = queued + redis.call('ZCARD', P .. 'queue:' .. pool) end
    local all = queue_heads(pools, window)
    for i = 1, math.min(window, #all) do
      local id = string.sub(all[i][2], 19)
      if not seen[id] then
        seen[id] = true
        local text = redis.call('HGET', P .. 'run:' .. id, 'policy') or ''
        local need = needs[text]
        if not need then
          need = need_of(text, types, labels)
          needs[text] = need
        end
        local r = need[3] and load(id)
        if r and r.state == 'queued' then
          found = found + 1
          if need[1] <= cores and (need[2] == 0 or need[2] <= memory) then
            cores, memory = cores - need[1], memory - need[2]
            out[#out + 1] = claim_run(r, worker, now, lease)
          end
          if found >= limit then break end
        end
      end
    end
    -- Done when enough were found, every queued run was looked at, or the bound is hit.
    if found >= limit or window >= queued or window >= MAX_SCAN then break end
    window = math.min(window * 4, MAX_SCAN)
  end
  if found < limit then
    for _, pool in ipairs(pools) do redis.call('SET', P .. 'armed:' .. pool, '1') end
  end
  return out
end

-- A set of the JSON list text (task types or labels); false for 'null' (any task type).
local function set_of(text)
  local list = cjson.decode(text)
  if type(list) ~= 'table' then return false end
  local set = {}
  for _, name in ipairs(list) do set[name] = true end
  return set
end

-- script: claim (head, runs, flows, queues, claiming)
-- ARGV: prefix, worker id, lease (us), run ids (distinct). Each run still queued goes to
-- running (claim_run); the others are left alone (a duplicate delivery). Returns the
-- claimed runs' rows.
do
  local worker = ARGV[2]
  local clock_now = clock()
  local now, lease = us(clock_now), us(clock_now + tonumber(ARGV[3]))
  local out = {}
  for i = 4, #ARGV do
    local r = load(ARGV[i])
    if r and r.state == 'queued' then out[#out + 1] = claim_run(r, worker, now, lease) end
  end
  return out
end

-- script: claim_next (head, runs, flows, queues, claiming)
-- ARGV: prefix, worker id, lease (us), limit, free cores, free memory (MB), task types (a
-- JSON list, or null: any), labels (a JSON list), pools (distinct). Store.claim_next in
-- one step (claim_heads). Returns the claimed rows.
do
  local pools = {}
  for i = 9, #ARGV do pools[#pools + 1] = ARGV[i] end
  return claim_heads(ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
                     tonumber(ARGV[6]), set_of(ARGV[7]), set_of(ARGV[8]) or {}, pools)
end

-- script: finish_claim (head, runs, flows, fencing, finishing, queues, claiming)
-- ARGV: prefix, actor, JSON list of outcomes (finish_all), then as claim_next from the
-- worker id on. Store.finish_and_claim: a worker reports what ended and takes what it now
-- has room for, in one step. Returns {accepted (1 or 0 per outcome), claimed rows}.
do
  local accepted = finish_all(ARGV[2], cjson.decode(ARGV[3]))
  local pools = {}
  for i = 11, #ARGV do pools[#pools + 1] = ARGV[i] end
  return {accepted, claim_heads(ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
                                tonumber(ARGV[8]), set_of(ARGV[9]), set_of(ARGV[10]) or {},
                                pools)}
end
