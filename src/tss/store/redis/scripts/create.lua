-- Runs made by a user, the API or a flow's start (Store.create_runs).
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: create_runs (head, runs, flows)
-- ARGV: prefix, actor, JSON list of new runs ({id, job, state, ikey?, fire?, reason?, f}),
-- the definition the runs were built from (JSON [job, version, created] as strings, or ''
-- for none), then the jobs to check: runs of theirs were sent without a flow, on the
-- guess that they have no job downstream.
-- Returns {'stale'} before any write when the job is no longer that definition (changed,
-- or deleted and made again), {'downstream'} before any write when one of those jobs has
-- a job downstream (the caller reads the flow and sends the runs again), {'conflict', id}
-- before any write, or {'ok', now, {{id, 1} | {id, 0, row}...}}.
do
  local actor, news = ARGV[2], cjson.decode(ARGV[3])
  if ARGV[4] ~= '' then
    local d = cjson.decode(ARGV[4])
    local v = redis.call('HMGET', P .. 'job:' .. d[1], 'version', 'created')
    if v[1] ~= d[2] or v[2] ~= d[3] then return {'stale'} end
  end
  for i = 5, #ARGV do
    if redis.call('SISMEMBER', P .. 'parents', ARGV[i]) == 1 then return {'downstream'} end
  end
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
end
