-- What apply and reject report, and taking a rejection back: every reject is remembered (its rejectionIds) so
-- that :AgentUnreject puts the latest one back as pending hunks (agentBridge.unreject).
local client_mod = require("agent_bridge.client")

local M = {}

---@class (exact) agent_bridge.Done
---@field arg table   the command's argument
---@field res table   its result

---@class (exact) agent_bridge.Rejection
---@field client_id integer
---@field parts { sessionId: string, rejectionId: string }[]
---@field count integer   hunks rejected

--- Rejections that can be taken back, the latest last.
---@type agent_bridge.Rejection[]
M.rejections = {}

local function plural(n, word)
  return string.format("%d %s%s", n, word, n == 1 and "" or "s")
end

--- Says what an apply did (and what it could not); returns how many hunks were applied.
---@param done agent_bridge.Done[]
---@param errors string[]
---@return integer
function M.report_apply(done, errors)
  local applied, conflicts = 0, {}
  for _, d in ipairs(done) do
    applied = applied + (d.res.applied or 0)
    for _, conflict in ipairs(d.res.conflicts or {}) do
      table.insert(conflicts, conflict.reason or vim.inspect(conflict))
    end
  end
  vim.list_extend(conflicts, errors)
  if #conflicts > 0 then
    client_mod.notify("not applied: " .. table.concat(conflicts, "; "), vim.log.levels.WARN)
  end
  if applied > 0 then
    client_mod.notify("applied " .. plural(applied, "agent change") .. " (u in a file takes its change back)")
  end
  return applied
end

--- Remembers a reject for :AgentUnreject and says what it did; returns how many hunks were rejected.
---@param c vim.lsp.Client
---@param done agent_bridge.Done[]
---@param errors string[]
---@return integer
function M.report_reject(c, done, errors)
  local rejected, parts = 0, {}
  for _, d in ipairs(done) do
    rejected = rejected + (d.res.rejected or 0)
    if type(d.res.rejectionId) == "string" then
      table.insert(parts, { sessionId = d.arg.sessionId, rejectionId = d.res.rejectionId })
    end
  end
  if #parts > 0 then
    table.insert(M.rejections, { client_id = c.id, parts = parts, count = rejected })
  end
  if #errors > 0 then
    client_mod.notify("reject failed: " .. table.concat(errors, "; "), vim.log.levels.ERROR)
  end
  if rejected > 0 then
    client_mod.notify("rejected " .. plural(rejected, "agent change")
      .. (#parts > 0 and " (:AgentUnreject brings them back)" or ""))
  end
  return rejected
end

--- :AgentUnreject — the latest rejection's hunks are pending again. `on_done(restored, err)`.
---@param opts? { on_done?: fun(restored: integer, err: string|nil) }
function M.unreject(opts)
  local finish = (opts or {}).on_done or function() end
  local r = table.remove(M.rejections)
  local c = r and client_mod.by_id(r.client_id)
  if not r or not c then
    client_mod.notify("no rejected agent change to bring back", vim.log.levels.WARN)
    return finish(0, "nothing to unreject")
  end
  local restored, errors = 0, {}
  -- The latest part first: each one is taken back on top of the ones rejected after it.
  local function step(i)
    if i < 1 then
      if #errors > 0 then
        client_mod.notify("could not bring back every rejected change: " .. table.concat(errors, "; "),
          vim.log.levels.WARN)
      end
      if restored > 0 then
        client_mod.notify(plural(restored, "rejected agent change") .. " pending again")
      end
      return finish(restored, errors[1])
    end
    client_mod.exec(c, "agentBridge.unreject", r.parts[i], function(err, res)
      if err then
        table.insert(errors, err)
      else
        restored = restored + ((res and res.restored) or 0)
      end
      step(i - 1)
    end)
  end
  step(#r.parts)
end

return M
