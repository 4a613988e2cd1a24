-- The statusline component: agent (its mode and model), session and turn state of the current buffer's bridge.
--   vim.o.statusline = "%f %m%=%{v:lua.require'agent_bridge'.statusline()} "
--   lualine: sections = { lualine_x = { require("agent_bridge").statusline } }
local M = {}

local ICON = {
  queued = "…",
  running = "⟳",
  completed = "✓",
  failed = "✗",
  cancelled = "⊘",
}

local scheduled = false

--- Something changed: redraw statuslines (at most once per event-loop tick) and fire User AgentBridgeStatus.
function M.changed()
  if scheduled then
    return
  end
  scheduled = true
  vim.schedule(function()
    scheduled = false
    pcall(vim.api.nvim_exec_autocmds, "User", { pattern = "AgentBridgeStatus", modeline = false })
    pcall(vim.cmd.redrawstatus, { bang = true })
  end)
end

--- The state shown by the statusline, as data (for custom statuslines); nil when there is no session.
---@param bufnr? integer
---@return { agent: string|nil, mode: string|nil, model: string|nil, session: string, title: string|nil, state: string, tool: string|nil, asking: boolean, pending: integer, queued: integer }|nil
function M.get(bufnr)
  local client = require("agent_bridge.client").for_buffer(bufnr)
  if not client then
    return nil
  end
  local sessions = require("agent_bridge.sessions")
  local buf = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local s = sessions.get(vim.b[buf].agent_bridge_session or "") or sessions.current(client.id)
  if not s then
    return nil
  end
  local turn = s.turn or {}
  local agent = turn.agent or s.agent or sessions.agent or s.state_agent
  local mode, model = require("agent_bridge.steer").summary(s, agent)
  return {
    agent = agent,
    mode = mode,
    model = model,
    session = s.id,
    title = s.title,
    state = turn.status or "idle",
    tool = turn.tool,
    asking = turn.asking == true,
    pending = s.pending and s.pending.hunks or 0,
    queued = s.waiting or 0,
  }
end

--- A short string: "scripted [plan, fast] 3f2a1b2c ⟳ running: Write greet.py · 2 pending" (the agent's mode
--- and model in brackets, when it has them).
---@param bufnr? integer
function M.statusline(bufnr)
  local ok, st = pcall(M.get, bufnr)
  if not ok or not st then
    return ""
  end
  local parts = { st.agent or "agent" }
  local steering = {}
  for _, v in ipairs({ st.mode or false, st.model or false }) do
    if v then
      table.insert(steering, v)
    end
  end
  if #steering > 0 then
    table.insert(parts, "[" .. table.concat(steering, ", ") .. "]")
  end
  table.insert(parts, st.session:sub(1, 8))
  local state = (ICON[st.state] and (ICON[st.state] .. " ") or "") .. st.state
  if st.asking then
    state = state .. ": waiting for permission"
  elseif st.tool then
    state = state .. ": " .. st.tool
  end
  if st.queued > 0 then
    state = state .. string.format(" (+%d queued)", st.queued)
  end
  table.insert(parts, state)
  local s = table.concat(parts, " ")
  if st.pending > 0 then
    s = s .. string.format(" · %d pending", st.pending)
  end
  return s
end

return M
