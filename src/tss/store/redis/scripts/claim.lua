-- A worker claims queued runs (Store.claim_runs): attempt + 1 is the fencing token.
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: claim (head, runs, flows)
-- ARGV: prefix, worker id, lease (us), run ids (distinct). Each run still queued goes to
-- running with attempt + 1 (the fencing token), a lease and an open attempt; the others are
-- left alone (a duplicate delivery). Returns the claimed runs' rows.
do
  local worker = ARGV[2]
  local clock_now = clock()
  local now, lease = us(clock_now), us(clock_now + tonumber(ARGV[3]))
  local out = {}
  for i = 4, #ARGV do
    local id = ARGV[i]
    local r = load(id)
    if r and r.state == 'queued' then
      local n = us(tonumber(r.attempt) + 1)
      move(r, 'running', worker, false, now,
           {attempt = n, started = now, worker = worker, lease = lease})
      redis.call('HSET', P .. 'attempt:' .. id .. ':' .. n, 'number', n, 'worker', worker,
                 'state', 'running', 'started', now)
      out[#out + 1] = row(id)
    end
  end
  return out
end
