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

-- The heads of queues, claimed (Store.claim_next): the first limit queued runs of the pools
-- (queue_heads in reads.lua), of which those whose
-- resources fit together in the free room (cores, memory in MB) are claimed, in that order
-- (tss.core.workers.Room.fit, restated: a run that does not fit is passed over; one asking
-- for no memory fits any memory). When fewer than limit were queued, the pools are armed:
-- the next run queued in one of them publishes a notice (index() in lib.lua). Returns the
-- claimed rows.
local function claim_heads(worker, lease_us, limit, cores, memory, pools)
  cores = cores + 1e-9
  local all = queue_heads(pools, limit)
  if #all < limit then
    for _, pool in ipairs(pools) do redis.call('SET', P .. 'armed:' .. pool, '1') end
  end
  local clock_now = clock()
  local now, lease = us(clock_now), us(clock_now + lease_us)
  local needs = {}  -- policy text -> {cores, memory}: the runs of a job share their policy
  local out = {}
  for i = 1, math.min(limit, #all) do
    local r = load(string.sub(all[i][2], 19))
    if r and r.state == 'queued' then
      local text = redis.call('HGET', P .. 'run:' .. r.id, 'policy') or ''
      local need = needs[text]
      if not need then
        -- an unreadable policy asks for nothing here: the worker quarantines the run
        local ok, policy = pcall(cjson.decode, text)
        if not ok or type(policy) ~= 'table' then policy = {} end
        need = {tonumber(policy.cores) or 0, tonumber(policy.memory) or 0}
        needs[text] = need
      end
      if need[1] <= cores and (need[2] == 0 or need[2] <= memory) then
        cores, memory = cores - need[1], memory - need[2]
        out[#out + 1] = claim_run(r, worker, now, lease)
      end
    end
  end
  return out
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
-- ARGV: prefix, worker id, lease (us), limit, free cores, free memory (MB), pools
-- (distinct). Store.claim_next in one step (claim_heads). Returns the claimed rows.
do
  local pools = {}
  for i = 7, #ARGV do pools[#pools + 1] = ARGV[i] end
  return claim_heads(ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]),
                     tonumber(ARGV[6]), pools)
end

-- script: finish_claim (head, runs, flows, fencing, finishing, queues, claiming)
-- ARGV: prefix, actor, JSON list of outcomes (finish_all), then as claim_next from the
-- worker id on. Store.finish_and_claim: a worker reports what ended and takes what it now
-- has room for, in one step. Returns {accepted (1 or 0 per outcome), claimed rows}.
do
  local accepted = finish_all(ARGV[2], cjson.decode(ARGV[3]))
  local pools = {}
  for i = 9, #ARGV do pools[#pools + 1] = ARGV[i] end
  return {accepted, claim_heads(ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]),
                                tonumber(ARGV[8]), pools)}
end
