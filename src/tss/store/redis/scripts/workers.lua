-- Workers: registered, their state set, and those silent too long marked dead.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: register_worker
-- ARGV: prefix, worker id, then field/value pairs. Replaces the worker's record: up, seen now.
do
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
end

-- script: set_worker_state
-- ARGV: prefix, worker id, state. Returns 1, or 0 for no such worker.
do
  local key = ARGV[1] .. 'worker:' .. ARGV[2]
  if redis.call('EXISTS', key) == 0 then return 0 end
  redis.call('HSET', key, 'state', ARGV[3])
  return 1
end

-- script: mark_dead
-- ARGV: prefix, silence (us). Marks up/draining workers silent that long dead; returns them.
do
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
end
