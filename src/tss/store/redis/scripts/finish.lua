-- The end of attempts (Store.finish_runs), fenced by the attempt, and their logs
-- (Store.save_logs).
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua, fencing.lua), then its body.

-- part: finishing
-- The end of attempts: outcomes is the decoded JSON list ({id, n, target, expired, astate,
-- delay, out, err, reason?, result?, error?}); targets were checked against the state
-- machine. An outcome is accepted only when may_finish (fencing.lua): its run is running
-- with exactly attempt n and, with expired, its lease has run out. Returns 1 or 0 per
-- outcome.
local function finish_all(actor, outcomes)
  local clock_now = clock()
  local now = us(clock_now)
  local accepted = {}
  for i, o in ipairs(outcomes) do
    local r = load(o.id)
    if r and may_finish(r.state, r.attempt, r.lease, o.n, o.target, o.expired, clock_now) then
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
end

-- script: finish (head, runs, flows, fencing, finishing)
-- ARGV: prefix, actor, JSON list of outcomes (finish_all). Returns 1 or 0 per outcome.
do
  return finish_all(ARGV[2], cjson.decode(ARGV[3]))
end

-- script: save_logs
-- ARGV: prefix, then (run id, attempt, stdout, stderr) quads. Attempts that ended keep
-- their final logs.
do
  local P = ARGV[1]
  for i = 2, #ARGV, 4 do
    local akey = P .. 'attempt:' .. ARGV[i] .. ':' .. ARGV[i + 1]
    if redis.call('EXISTS', akey) == 1 and not redis.call('HGET', akey, 'finished') then
      redis.call('HSET', akey, 'stdout', ARGV[i + 2], 'stderr', ARGV[i + 3])
    end
  end
  return 0
end
