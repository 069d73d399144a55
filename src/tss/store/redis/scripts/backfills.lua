-- Backfills (Store.add_backfill, update_backfill). tss/store/redis/ledger.py has the keys.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it,
-- then its body (these name none).

-- script: add_backfill
-- ARGV: prefix, id, job, created (micros), state, then the hash's field/value pairs. Stores
-- the backfill with its index entries unless its id is taken. Returns 1, or 0 when taken.
do
  local P, id, job, created, state = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
  local key = P .. 'backfill:' .. id
  if redis.call('EXISTS', key) == 1 then return 0 end
  redis.call('HSET', key, unpack(ARGV, 6))
  redis.call('ZADD', P .. 'backfills:' .. job, created, id)
  if state == 'active' then redis.call('ZADD', P .. 'backfills-active', created, id) end
  return 1
end

-- script: update_backfill
-- ARGV: prefix, id, made, state. Records progress; an unknown id is ignored, and so is a
-- backfill no longer active (done and stopped are final). A backfill that is no longer
-- active leaves the index of active ones.
do
  local P, id, made, state = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
  local key = P .. 'backfill:' .. id
  if redis.call('HGET', key, 'state') ~= 'active' then return 0 end
  redis.call('HSET', key, 'made', made, 'state', state)
  if state ~= 'active' then redis.call('ZREM', P .. 'backfills-active', id) end
  return 1
end
