-- Job versions and the audit log. tss/store/redis/audit.py has the key layout.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it,
-- then its body.

-- part: versions
-- add_version(name, now, actor, change, spec): a job's next version, pushed on its list of
-- versions (JSON: v, at, actor, change, spec; no spec for a deletion). The job scripts
-- call it in the same script as the change.
local function add_version(name, now, actor, change, spec)
  local key = P .. 'versions:' .. name
  local record = {v = redis.call('LLEN', key) + 1, at = now, actor = actor, change = change}
  if spec then record.spec = spec end
  redis.call('RPUSH', key, cjson.encode(record))
end

-- script: add_audit
-- ARGV: prefix, JSON list of entries ({at, actor, action, target, details (JSON text)}).
-- Gives each the next id and stores it with its index entries. Returns nothing.
do
  local P, items = ARGV[1], cjson.decode(ARGV[2])
  for _, e in ipairs(items) do
    local id = redis.call('INCR', P .. 'audit-id')
    e.id = id
    redis.call('HSET', P .. 'audit-entries', id, cjson.encode(e))
    redis.call('ZADD', P .. 'audit', id, id)
    redis.call('ZADD', P .. 'audit-actor:' .. e.actor, id, id)
    redis.call('ZADD', P .. 'audit-target:' .. e.target, id, id)
  end
  return 0
end
