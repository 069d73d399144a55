-- The outbox: which queued runs were handed to the broker (Store.mark_published).
--
-- Each script is put together by tss/store/redis/scripts.py: the parts named after it
-- (lib.lua, flows.lua), then its body.

-- script: mark_published (head, runs, flows)
-- ARGV: prefix, run ids. Records that these runs were handed to the broker (the outbox).
do
  local now = us(clock())
  for i = 2, #ARGV do
    local r = load(ARGV[i])
    if r then
      if r.state == 'queued' then index(r, false) end
      save(r, {pub = now})
      if r.state == 'queued' then index(r, true) end
    end
  end
  return 0
end
