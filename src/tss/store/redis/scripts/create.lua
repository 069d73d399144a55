-- Runs made by a user, the API or a flow's start (Store.create_runs).
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: create_runs (head, runs, flows)
-- ARGV: prefix, actor, JSON list of new runs ({id, job, state, ikey?, fire?, reason?, f}),
-- then the jobs to check: runs of theirs were sent without a flow, on the guess that they
-- have no job downstream.
-- Returns {'downstream'} before any write when one of those jobs has (the caller reads
-- the flow and sends the runs again), {'conflict', id} before any write, or
-- {'ok', now, {{id, 1} | {id, 0, row}...}}.
do
  local actor, news = ARGV[2], cjson.decode(ARGV[3])
  for i = 4, #ARGV do
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
