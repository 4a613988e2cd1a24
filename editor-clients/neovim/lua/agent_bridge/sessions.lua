-- What the plugin knows about the bridge's sessions: the current session of each bridge, turn states, usage,
-- pending counts, slash commands; fed by `agentBridge/event` notifications and command results.
local M = {}

---@class agent_bridge.Session
---@field id string
---@field client_id integer
---@field title string|nil
---@field agent string|nil          agent of the latest turn
---@field turn table|nil            { id, status = queued|running|completed|failed|cancelled, agent, tool, error }
---@field pending table             { files, hunks }
---@field usage table|nil           latest usage event fields
---@field commands table            slash commands an agent of the session published last: { {name, description} }
---@field agent_states table<string, agent_bridge.AgentState>  per agent: modes, config options, commands (steer.lua)
---@field state_agent string|nil    the agent the bridge answered an agentState without `agent` for
---@field state_asked table<string, boolean>|nil  agents whose state was asked for after their first turn
---@field agents table|nil          agentBridge.sessions' `agents` entries: { agent, status, usage, mode?, model? }
---@field contexts table<string, string>|nil  turn id -> what was sent with its prompt, named for the chat

---@type table<string, agent_bridge.Session>
M.by_id = {}
---@type table<integer, string> client id -> current session id
M.current_by_client = {}
-- The agent :AgentPrompt uses when none is given (nil: the bridge's default); set by :AgentAgents.
M.agent = nil

---@param id string
---@return agent_bridge.Session|nil
function M.get(id)
  return M.by_id[id]
end

---@param id string
---@param client_id integer
---@return agent_bridge.Session
function M.ensure(id, client_id)
  local s = M.by_id[id]
  if not s then
    s = { id = id, client_id = client_id, pending = { files = 0, hunks = 0 }, commands = {}, agent_states = {} }
    M.by_id[id] = s
  end
  if M.current_by_client[client_id] == nil then
    M.current_by_client[client_id] = id
  end
  return s
end

---@param client_id integer
---@return agent_bridge.Session|nil
function M.current(client_id)
  local id = client_id and M.current_by_client[client_id]
  return id and M.by_id[id] or nil
end

function M.set_current(client_id, id)
  M.current_by_client[client_id] = id
  require("agent_bridge.status").changed()
end

function M.forget(id)
  local s = M.by_id[id]
  M.by_id[id] = nil
  if s and M.current_by_client[s.client_id] == id then
    M.current_by_client[s.client_id] = nil
  end
  require("agent_bridge.status").changed()
end

--- Sessions of one bridge, newest first by what we saw.
function M.of_client(client_id)
  local out = {}
  for _, s in pairs(M.by_id) do
    if s.client_id == client_id then
      table.insert(out, s)
    end
  end
  return out
end

--- A turn was queued by a prompt of ours.
function M.queued(client_id, session_id, turn_id, agent, text)
  local s = M.ensure(session_id, client_id)
  s.title = s.title or vim.split(text, "\n", { plain = true })[1]
  if s.turn and s.turn.id == turn_id then
    -- turnStarted came first: nothing to add.
  elseif s.turn and (s.turn.status == "running" or s.turn.status == "queued") then
    s.waiting = (s.waiting or 0) + 1 -- behind the running turn
  else
    s.turn = { id = turn_id, status = "queued", agent = agent or s.agent }
  end
  M.set_current(client_id, session_id)
end

local function on_state(s, ev)
  local kind = ev.kind
  if ev.agent and kind ~= "pendingChanged" then
    s.agent = ev.agent
  end
  if kind == "turnStarted" then
    if s.turn and s.turn.id ~= ev.turnId and s.turn.status ~= "queued" and (s.waiting or 0) > 0 then
      s.waiting = s.waiting - 1
    end
    s.turn = { id = ev.turnId, status = "running", agent = ev.agent }
    s.title = s.title or (ev.prompt and vim.split(ev.prompt, "\n", { plain = true })[1])
  elseif kind == "turnEnded" then
    s.turn = { id = ev.turnId, status = ev.status, agent = ev.agent, error = ev.error, stopReason = ev.stopReason }
  elseif kind == "toolCall" and s.turn and s.turn.id == ev.turnId then
    s.turn.tool = (ev.status == "pending" or ev.status == "in_progress") and ev.title or nil
  elseif kind == "permission" and s.turn and s.turn.id == ev.turnId then
    s.turn.asking = ev.outcome == "asking" or nil
  elseif kind == "usage" then
    s.usage = vim.tbl_extend("force", s.usage or {}, ev)
  elseif kind == "pendingChanged" then
    s.pending = { files = ev.files or 0, hunks = ev.hunks or 0 }
  elseif kind == "availableCommands" then
    s.commands = ev.commands or {}
  elseif kind == "sessionInfo" and ev.title then
    s.title = ev.title
  end
  if kind == "availableCommands" or kind == "modeChanged" or kind == "configChanged" or kind == "turnStarted" then
    require("agent_bridge.steer").on_event(s, ev)
  end
end

--- One `agentBridge/event` notification.
function M.on_event(ev, client_id)
  if type(ev) ~= "table" or not ev.sessionId then
    return
  end
  local s = M.ensure(ev.sessionId, client_id)
  on_state(s, ev)
  require("agent_bridge.chat").on_event(s, ev)
  if ev.kind == "turnEnded" and ev.status == "failed" and ev.error then
    require("agent_bridge.client").notify(
      (ev.agent or "agent") .. " turn failed: " .. ev.error,
      vim.log.levels.ERROR
    )
  end
  if ev.kind == "turnEnded" then
    M.fetch_totals(s, ev.turnId, ev.agent)
  end
  require("agent_bridge.status").changed()
  vim.api.nvim_exec_autocmds("User", { pattern = "AgentBridgeEvent", modeline = false, data = ev })
end

--- After a turn: the session's token totals for its agent, shown in the chat.
function M.fetch_totals(s, turn_id, agent)
  local client_mod = require("agent_bridge.client")
  local c = client_mod.by_id(s.client_id)
  if not c then
    return
  end
  client_mod.exec(c, "agentBridge.sessions", {}, function(err, list)
    if err then
      return
    end
    for _, item in ipairs(list or {}) do
      if item.sessionId == s.id then
        s.agents = item.agents
        for _, a in ipairs(item.agents or {}) do
          if a.agent == agent and type(a.usage) == "table" then
            require("agent_bridge.chat").show_totals(s, turn_id, a.usage)
          end
        end
      end
    end
  end)
end

local function same_dir(a, b)
  local ra, rb = vim.uv.fs_realpath(a) or vim.fs.normalize(a), vim.uv.fs_realpath(b) or vim.fs.normalize(b)
  return ra == rb
end

--- A bridge just started: learn the sessions it restored for its workspace (from an earlier Neovim), and make
--- the newest one current so that prompts continue it.
function M.restore(c)
  local client_mod = require("agent_bridge.client")
  client_mod.exec(c, "agentBridge.sessions", {}, function(err, list)
    if err or type(list) ~= "table" then
      return
    end
    local mine, newest = {}, nil
    for _, item in ipairs(list) do
      if not c.root_dir or not item.workspace or same_dir(item.workspace, c.root_dir) then
        table.insert(mine, item)
        if not newest or (item.createdAt or "") > (newest.createdAt or "") then
          newest = item
        end
      end
    end
    local had_current = M.current_by_client[c.id] ~= nil
    for _, item in ipairs(mine) do
      local s = M.ensure(item.sessionId, c.id)
      s.title = item.title ~= vim.NIL and item.title or s.title
      s.pending.hunks = item.pendingHunks or s.pending.hunks
      s.agents = item.agents
    end
    if not had_current and newest then
      M.set_current(c.id, newest.sessionId)
    end
  end)
end

--- Merge what agentBridge.sessions returned.
function M.update_from_list(client_id, list)
  local seen = {}
  for _, item in ipairs(list or {}) do
    local s = M.ensure(item.sessionId, client_id)
    s.title = item.title ~= vim.NIL and item.title or s.title
    s.pending.hunks = item.pendingHunks or s.pending.hunks
    s.busy = item.busy
    s.agents = item.agents
    s.workspace = item.workspace
    seen[item.sessionId] = true
  end
  for id, s in pairs(M.by_id) do
    if s.client_id == client_id and not seen[id] then
      M.forget(id)
    end
  end
end

return M
