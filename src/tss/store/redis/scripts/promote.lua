-- Scheduled and retrying runs whose time has come go to queued (Store.promote_due_runs).
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: promote (head, runs, flows)
-- ARGV: prefix, actor, limit, ahead (us). Scheduled and retrying runs whose not_before has
-- passed, or comes within ahead, go to queued, earliest first. Returns their rows.
do
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
end
