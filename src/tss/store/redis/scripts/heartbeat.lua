-- A worker's heartbeat (Store.heartbeat): its leases extended, fenced by the attempt.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (fencing.lua), then its body.

-- script: heartbeat (fencing)
-- ARGV: prefix, worker id, lease (us), how many runs it holds, then (run id, attempt) pairs.
-- Records the worker alive and extends each lease still held by exactly that attempt.
-- Returns the run ids the worker no longer holds.
do
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
    if holds(v[1], v[2], n) then
      redis.call('HSET', P .. 'run:' .. id, 'lease', lease, 'updated', now)
      redis.call('ZADD', P .. 'leased', lease, id)
    else
      lost[#lost + 1] = id
    end
  end
  return lost
end
