-- Fencing in the Redis store's scripts: the Lua mirror of tss.core.fencing.
--
-- A run's attempt number is its fencing token: a claim raises it, and only the attempt that
-- holds the run (running, same number) may report on it. Lua cannot call Python, so these
-- two functions restate tss.core.fencing.holds and may_finish under the same names;
-- FINISH_TARGETS (the states a run may move to from running) is written in from
-- tss.core.states by tss/store/redis/scripts.py, and a test runs both functions against
-- tss.core.fencing over every state, attempt and lease case
-- (tests/integration/test_redis_store.py).

-- part: fencing
-- tss.core.fencing.holds: whether attempt held still holds a run in state at attempt (a
-- heartbeat's rule: a late heartbeat wins while the reaper has not ended the run).
local function holds(state, attempt, held)
  return state == 'running' and attempt == held
end

-- tss.core.fencing.may_finish: the attempt holds the run, the target is a legal move from
-- running, and for the reaper (expired) the lease has run out by now. lease is the stored
-- text (false: no lease); now is a number.
local function may_finish(state, attempt, lease, held, target, expired, now)
  return holds(state, attempt, held) and FINISH_TARGETS[target] == true
    and not (expired and lease and tonumber(lease) > now)
end
