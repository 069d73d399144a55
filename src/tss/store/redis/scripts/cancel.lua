-- Runs ended from outside: cancelled (Store.cancel_runs), or failed while still queued
-- (Store.fail_queued_runs).
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: cancel (head, runs, flows)
-- ARGV: prefix, actor, reason, run ids (distinct). Cancels the runs that are not terminal,
-- closing a running one's attempt. Returns the cancelled runs' rows.
do
  local actor, why = ARGV[2], ARGV[3]
  local now = us(clock())
  local out = {}
  for i = 4, #ARGV do
    local r = load(ARGV[i])
    if r and CANCELLABLE[r.state] then
      cancel(r, actor, why, now)
      out[#out + 1] = row(r.id)
    end
  end
  settle_touched(actor, now)
  return out
end

-- script: fail_queued (head, runs, flows)
-- ARGV: prefix, actor, reason, error (JSON), run ids (distinct). Fails the runs that are
-- still queued, without an attempt (no live worker can take them). Returns their rows.
do
  local actor, why, err = ARGV[2], ARGV[3], ARGV[4]
  local now = us(clock())
  local out = {}
  for i = 5, #ARGV do
    local r = load(ARGV[i])
    if r and r.state == 'queued' then
      touch(r.id)
      move(r, 'failed', actor, why, now, {reason = why, error = err})
      out[#out + 1] = row(r.id)
    end
  end
  settle_touched(actor, now)
  return out
end
