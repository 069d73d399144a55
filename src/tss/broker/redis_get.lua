-- The Redis broker's get (tss.broker.redis): one pass over the streams of some pools.
-- KEYS: the streams, highest priority first. ARGV: group, consumer, how many, reclaim idle
-- time in ms (0: no reclaim this time), forget idle time in ms, then an XAUTOCLAIM cursor per
-- key. Returns {cursors, scanned, {{stream, id, fields}...}}. Missing groups are created at
-- id 0, so entries published before any consumer existed (or after a restart) are read.
local group, consumer = ARGV[1], ARGV[2]
local want, idle, forget = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local out, cursors, scanned = {}, {}, 0
local function take(key, entries)
  for _, e in ipairs(entries) do
    out[#out + 1] = {key, e[1], e[2]}
    want = want - 1
  end
end
for i, key in ipairs(KEYS) do
  local cursor = ARGV[5 + i]
  if want > 0 and idle > 0 then
    scanned = scanned + 1
    local res = redis.pcall('XAUTOCLAIM', key, group, consumer, idle, cursor, 'COUNT', want)
    if res.err and not string.find(res.err, 'NOGROUP') then
      return redis.error_reply(res.err)
    elseif res.err then
      cursor = '0-0'
    else
      cursor = res[1]
      take(key, res[2])
      for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', key, group)) do
        local info = {}
        for j = 1, #c, 2 do info[c[j]] = c[j + 1] end
        if info.pending == 0 and info.idle > forget and info.name ~= consumer then
          redis.call('XGROUP', 'DELCONSUMER', key, group, info.name)
        end
      end
    end
  end
  cursors[i] = cursor
  if want > 0 then
    local cmd = {'XREADGROUP', 'GROUP', group, consumer, 'COUNT', want, 'STREAMS', key, '>'}
    local res = redis.pcall(unpack(cmd))
    if type(res) == 'table' and res.err then
      if not string.find(res.err, 'NOGROUP') then return redis.error_reply(res.err) end
      redis.call('XGROUP', 'CREATE', key, group, '0', 'MKSTREAM')
      res = redis.call(unpack(cmd))
    end
    if res then take(key, res[1][2]) end
  end
end
return {cursors, scanned, out}
