-- API tokens and dashboard sessions.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: create_token
-- ARGV: prefix, token id, created (us), then field/value pairs. Returns 1, or 0 if the id
-- is taken.
do
  local P = ARGV[1]
  local key = P .. 'token:' .. ARGV[2]
  if redis.call('EXISTS', key) == 1 then return 0 end
  redis.call('HSET', key, unpack(ARGV, 4))
  redis.call('ZADD', P .. 'tokens', ARGV[3], ARGV[2])
  return 1
end

-- script: revoke_tokens
-- ARGV: prefix, id or name. Revokes the unrevoked tokens with that id or name, oldest first.
-- Returns their hashes, or nil when no token has that id or name.
do
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
end

-- script: touch_token
-- ARGV: prefix, token id. Records its use now; unknown ids are ignored.
do
  local key = ARGV[1] .. 'token:' .. ARGV[2]
  if redis.call('EXISTS', key) == 0 then return 0 end
  local t = redis.call('TIME')
  redis.call('HSET', key, 'used', string.format('%.0f', tonumber(t[1]) * 1000000 + tonumber(t[2])))
  return 1
end

-- script: create_session
-- ARGV: prefix, id hash, expiry (ms since the epoch), then the hash's field/value pairs.
-- Makes the session unless one has that id; Redis drops it at its expiry. Returns 1 or 0.
do
  local key = ARGV[1] .. 'session:' .. ARGV[2]
  if redis.call('EXISTS', key) == 1 then return 0 end
  redis.call('HSET', key, unpack(ARGV, 4))
  redis.call('PEXPIREAT', key, ARGV[3])
  return 1
end
