-- :AgentSessions and :AgentAgents: lists from the bridge, chosen with vim.ui.select.
local chat = require("agent_bridge.chat")
local client_mod = require("agent_bridge.client")
local sessions = require("agent_bridge.sessions")

local M = {}

local function bridge()
  local c = client_mod.for_buffer(0)
  if not c then
    client_mod.notify("no agent-bridge running here: open a file inside a git repository first",
      vim.log.levels.WARN)
  end
  return c
end

local function session_label(item, current_id)
  local agents = {}
  for _, a in ipairs(item.agents or {}) do
    table.insert(agents, a.agent .. ":" .. a.status)
  end
  local title = item.title ~= vim.NIL and item.title or "(no prompt yet)"
  return string.format("%s %s  %s  [%s]%s%s", item.sessionId == current_id and "●" or " ", item.sessionId:sub(1, 8),
    title, table.concat(agents, ", "), (item.pendingHunks or 0) > 0 and ("  " .. item.pendingHunks .. " pending") or "",
    item.busy and "  (busy)" or "")
end

local function close(c, id, on_done)
  client_mod.exec(c, "agentBridge.closeSession", { sessionId = id }, function(err, res)
    if err then
      return client_mod.notify("close failed: " .. err, vim.log.levels.ERROR)
    end
    sessions.forget(id)
    chat.forget(id)
    client_mod.notify("closed session " .. id:sub(1, 8) .. (res and res.closed and "" or " (it was already closed)"))
    if on_done then
      on_done(res)
    end
  end)
end

local ACTIONS = {
  { id = "switch", label = "Switch to it (prompts go there) and show its chat" },
  { id = "chat", label = "Show its chat" },
  { id = "cancel", label = "Cancel its running turn" },
  { id = "close", label = "Close it (unapplied changes stay reachable in git)" },
}

--- :AgentSessions — pick a session, then switch to it, show its chat, cancel its turn or close it.
function M.sessions(opts)
  opts = opts or {}
  local c = bridge()
  if not c then
    return
  end
  client_mod.exec(c, "agentBridge.sessions", {}, function(err, list)
    if err then
      return client_mod.notify(err, vim.log.levels.ERROR)
    end
    sessions.update_from_list(c.id, list)
    local current = sessions.current(c.id)
    local items = vim.list_extend({}, list or {})
    table.insert(items, { new = true })
    vim.ui.select(items, {
      prompt = "Agent sessions",
      kind = "agent_bridge.sessions",
      format_item = function(item)
        return item.new and "+ New session (the next prompt starts it)" or session_label(item, current and current.id)
      end,
    }, function(item)
      if not item then
        return
      end
      if item.new then
        sessions.set_current(c.id, nil)
        client_mod.notify("the next prompt starts a new session")
        return opts.on_done and opts.on_done("new")
      end
      local id = item.sessionId
      vim.ui.select(ACTIONS, {
        prompt = "Session " .. id:sub(1, 8),
        kind = "agent_bridge.session_action",
        format_item = function(a)
          return a.label
        end,
      }, function(action)
        if not action then
          return
        end
        local s = sessions.ensure(id, c.id)
        if action.id == "switch" then
          sessions.set_current(c.id, id)
          chat.open(s, { redraw = true })
        elseif action.id == "chat" then
          chat.open(s, { focus = true })
        elseif action.id == "cancel" then
          require("agent_bridge.prompt").cancel(id)
        elseif action.id == "close" then
          return close(c, id, function()
            if opts.on_done then
              opts.on_done("close", id)
            end
          end)
        end
        if opts.on_done then
          opts.on_done(action.id, id)
        end
      end)
    end)
  end)
end

local function agent_label(a)
  local state = a.available and "available" or ("not available: " .. (a.detail or "?"))
  local chosen = sessions.agent == a.name and "  ← prompts go here" or (a.default and not sessions.agent and "  (default)" or "")
  return string.format("%s  (%s) %s%s", a.name, a.protocol or "?", state, chosen)
end

--- :AgentAgents [name] — list the bridge's agents and choose the one prompts go to.
function M.agents(name, opts)
  opts = opts or {}
  local c = bridge()
  if not c then
    return
  end
  client_mod.exec(c, "agentBridge.agents", {}, function(err, list)
    if err then
      return client_mod.notify(err, vim.log.levels.ERROR)
    end
    M.cached_agents = vim.tbl_map(function(a)
      return a.name
    end, list or {})
    local function choose(a)
      if not a then
        return
      end
      sessions.agent = a.name
      client_mod.notify("prompts go to " .. a.name .. (a.available and "" or " (not available: " .. (a.detail or "?") .. ")"))
      require("agent_bridge.status").changed()
      if opts.on_done then
        opts.on_done(a)
      end
    end
    if name and name ~= "" then
      for _, a in ipairs(list or {}) do
        if a.name == name then
          return choose(a)
        end
      end
      return client_mod.notify("no agent named " .. name, vim.log.levels.ERROR)
    end
    vim.ui.select(list or {}, { prompt = "Agents", kind = "agent_bridge.agents", format_item = agent_label }, choose)
  end)
end

return M
