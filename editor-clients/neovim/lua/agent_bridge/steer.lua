-- Steering a session's agent: its modes, its config options (the model among them) and its slash commands, as
-- agentBridge.agentState reports them and the modeChanged / configChanged / availableCommands events keep them
-- current; :AgentMode and :AgentModel choose with vim.ui.select and set them with agentBridge.setMode /
-- agentBridge.setOption (the bridge remembers the choice for the session and agent).
local client_mod = require("agent_bridge.client")
local sessions = require("agent_bridge.sessions")

local M = {}

---@class (exact) agent_bridge.Mode
---@field id string
---@field name string
---@field description? string

---@class (exact) agent_bridge.Modes
---@field currentModeId string|nil
---@field availableModes agent_bridge.Mode[]

---@class (exact) agent_bridge.ConfigValue
---@field value string
---@field name string
---@field description? string
---@field group? string          the name of the group the agent put it in

---@class (exact) agent_bridge.ConfigOption
---@field id string
---@field name string
---@field description? string
---@field category? string       "model", "mode", "thought_level", ... (ACP); "model" marks the model choice
---@field type "select"|"boolean"
---@field currentValue string|boolean
---@field options? table[]        select values: { value, name, description? }, or groups { group, name, options }

---@class (exact) agent_bridge.SlashCommand
---@field name string
---@field description string
---@field input? { hint: string }

---@class (exact) agent_bridge.AgentState
---@field agent string
---@field modes agent_bridge.Modes|nil             nil: the agent offers no modes
---@field configOptions agent_bridge.ConfigOption[]
---@field commands agent_bridge.SlashCommand[]
---@field complete boolean        false while only events were seen (agentState not asked yet)

---@param v any
local function present(v)
  return v ~= nil and v ~= vim.NIL
end

---@param v any
---@return table
local function list(v)
  return type(v) == "table" and v or {}
end

---@param res table an AgentStateResult off the wire
---@return agent_bridge.AgentState
function M.normalize(res)
  local modes = present(res.modes) and type(res.modes) == "table" and res.modes or nil
  return {
    agent = res.agent,
    modes = modes and {
      currentModeId = present(modes.currentModeId) and modes.currentModeId or nil,
      availableModes = list(modes.availableModes),
    } or nil,
    configOptions = list(res.configOptions),
    commands = list(res.commands),
    complete = true,
  }
end

--- The agent steering acts on in a session: the one :AgentAgents picked (prompts go there), else the agent of
--- the session's latest turn, else the one the bridge answered an agentState without `agent` for.
---@param s agent_bridge.Session
---@return string|nil
function M.agent_of(s)
  return sessions.agent or s.agent or s.state_agent
end

--- What is known of an agent's state in a session (default: the agent steering acts on).
---@param s agent_bridge.Session
---@param agent? string
---@return agent_bridge.AgentState|nil
function M.state(s, agent)
  agent = agent or M.agent_of(s)
  return agent and s.agent_states[agent] or nil
end

---@param s agent_bridge.Session
---@param res table
---@param asked? string           the agent asked about (names the state if the answer does not)
---@return agent_bridge.AgentState
local function store(s, res, asked)
  local st = M.normalize(res)
  st.agent = type(st.agent) == "string" and st.agent or asked or "agent"
  s.agent_states[st.agent] = st
  if not (sessions.agent or s.agent) then
    s.state_agent = st.agent
  end
  require("agent_bridge.status").changed()
  return st
end

---@param s agent_bridge.Session
---@param agent string
---@return agent_bridge.AgentState
local function partial(s, agent)
  local st = s.agent_states[agent]
  if not st then
    st = { agent = agent, modes = nil, configOptions = {}, commands = {}, complete = false }
    s.agent_states[agent] = st
  end
  return st
end

--- Asks the bridge for the agent's state (it starts the agent when it is not running): `cb(err, state)`.
---@param s agent_bridge.Session
---@param agent? string           nil: the bridge's choice (the session's latest agent, else the default)
---@param cb? fun(err: string|nil, state: agent_bridge.AgentState|nil)
function M.fetch(s, agent, cb)
  local c = client_mod.by_id(s.client_id)
  if not c then
    return cb and cb("the bridge is not running", nil)
  end
  client_mod.exec(c, "agentBridge.agentState", { sessionId = s.id, agent = agent }, function(err, res)
    if err or type(res) ~= "table" then
      return cb and cb(err or "no answer", nil)
    end
    local st = store(s, res, agent)
    if cb then
      cb(nil, st)
    end
  end)
end

--- The agent's state for completion: what is known, else asked for (waiting at most `timeout_ms`).
---@param s agent_bridge.Session
---@param agent? string           default: the agent steering acts on
---@param timeout_ms? integer
---@return agent_bridge.AgentState|nil
function M.state_now(s, agent, timeout_ms)
  agent = agent or M.agent_of(s)
  local st = M.state(s, agent)
  if st and st.complete then
    return st
  end
  local c = client_mod.by_id(s.client_id)
  if not c then
    return st
  end
  local res = client_mod.exec_sync(c, "agentBridge.agentState", { sessionId = s.id, agent = agent },
    timeout_ms or 1500)
  return type(res) == "table" and store(s, res, agent) or st
end

--- One `agentBridge/event` of the session (called by sessions.on_event).
---@param s agent_bridge.Session
---@param ev table
function M.on_event(s, ev)
  local agent = ev.agent
  if type(agent) ~= "string" then
    return
  end
  if ev.kind == "availableCommands" then
    partial(s, agent).commands = list(ev.commands)
  elseif ev.kind == "modeChanged" then
    local st = partial(s, agent)
    st.modes = st.modes or { currentModeId = nil, availableModes = {} }
    st.modes.currentModeId = ev.modeId
  elseif ev.kind == "configChanged" then
    partial(s, agent).configOptions = list(ev.options)
  elseif ev.kind == "turnStarted" then
    -- The first turn of an agent in this session: learn its modes and model for the statusline.
    local st = s.agent_states[agent]
    s.state_asked = s.state_asked or {}
    if not (st and st.complete) and not s.state_asked[agent] then
      s.state_asked[agent] = true
      M.fetch(s, agent)
    end
  end
end

-- Models ------------------------------------------------------------------------------------------------------

--- The config option that chooses the model: category "model", else id "model".
---@param st agent_bridge.AgentState|nil
---@return agent_bridge.ConfigOption|nil
function M.model_option(st)
  for _, o in ipairs(st and st.configOptions or {}) do
    if o.category == "model" then
      return o
    end
  end
  for _, o in ipairs(st and st.configOptions or {}) do
    if o.id == "model" then
      return o
    end
  end
  return nil
end

--- A select option's values, groups flattened.
---@param opt agent_bridge.ConfigOption
---@return agent_bridge.ConfigValue[]
function M.values(opt)
  local out = {}
  for _, v in ipairs(list(opt.options)) do
    if type(v.options) == "table" then
      for _, g in ipairs(v.options) do
        table.insert(out, { value = g.value, name = g.name or g.value, description = g.description, group = v.name })
      end
    elseif present(v.value) then
      table.insert(out, { value = v.value, name = v.name or v.value, description = v.description })
    end
  end
  return out
end

--- The mode id and model of an agent in a session: from its state, else from agentBridge.sessions' entry.
---@param s agent_bridge.Session
---@param agent string|nil
---@return string|nil mode, string|nil model
function M.summary(s, agent)
  local mode, model
  local st = agent and s.agent_states[agent] or nil
  if st then
    mode = st.modes and st.modes.currentModeId or nil
    local opt = M.model_option(st)
    model = opt and type(opt.currentValue) == "string" and opt.currentValue or nil
  end
  for _, a in ipairs(type(s.agents) == "table" and s.agents or {}) do
    if a.agent == agent then
      mode = mode or (present(a.mode) and a.mode or nil)
      model = model or (present(a.model) and a.model or nil)
    end
  end
  return mode, model
end

-- :AgentMode and :AgentModel -------------------------------------------------------------------------------

---@class (exact) agent_bridge.SteerOpts
---@field value? string           the mode id / model value to set (nil: choose with vim.ui.select)
---@field session? string         session id (default: the current one)
---@field agent? string           default: the agent prompts go to (see agent_of)
---@field on_done? fun(state: agent_bridge.AgentState)

---@param opts agent_bridge.SteerOpts
---@return agent_bridge.Session|nil
local function session_of(opts)
  local s = require("agent_bridge.prompt").session_for(opts.session)
  if not s then
    client_mod.notify("no agent session yet: :AgentPrompt starts one", vim.log.levels.WARN)
  end
  return s
end

---@param s agent_bridge.Session
---@param command string
---@param arg table
---@param what string
---@param on_done? fun(state: agent_bridge.AgentState)
local function set(s, command, arg, what, on_done)
  local c = client_mod.by_id(s.client_id)
  if not c then
    return client_mod.notify("the bridge is not running", vim.log.levels.ERROR)
  end
  arg.sessionId = s.id
  client_mod.exec(c, command, arg, function(err, res)
    if err or type(res) ~= "table" then
      return client_mod.notify(what .. " not changed: " .. (err or "no answer"), vim.log.levels.ERROR)
    end
    local st = store(s, res, arg.agent)
    local mode, model = M.summary(s, st.agent)
    client_mod.notify(string.format("%s: %s", st.agent, what == "mode" and tostring(mode) or tostring(model)))
    if on_done then
      on_done(st)
    end
  end)
end

---@param m agent_bridge.Mode
---@param current string|nil
local function mode_label(m, current)
  local desc = present(m.description) and (" — " .. m.description) or ""
  return string.format("%s %s%s", m.id == current and "●" or " ", m.name or m.id, desc)
end

--- :AgentMode: sets the agent's mode (opts.value), or lists its modes to choose from.
---@param opts? agent_bridge.SteerOpts
function M.mode(opts)
  opts = opts or {}
  local s = session_of(opts)
  if not s then
    return
  end
  local agent = opts.agent or M.agent_of(s)
  if opts.value and opts.value ~= "" then
    return set(s, "agentBridge.setMode", { agent = agent, modeId = opts.value }, "mode", opts.on_done)
  end
  M.fetch(s, agent, function(err, st)
    if err or not st then
      return client_mod.notify("agent state: " .. tostring(err), vim.log.levels.ERROR)
    end
    if not st.modes or #st.modes.availableModes == 0 then
      return client_mod.notify(st.agent .. " offers no modes", vim.log.levels.WARN)
    end
    local current = st.modes.currentModeId
    vim.ui.select(st.modes.availableModes, {
      prompt = "Mode of " .. st.agent,
      kind = "agent_bridge.mode",
      format_item = function(m)
        return mode_label(m, current)
      end,
    }, function(choice)
      if choice then
        set(s, "agentBridge.setMode", { agent = st.agent, modeId = choice.id }, "mode", opts.on_done)
      end
    end)
  end)
end

--- :AgentModel: sets the agent's model (opts.value), or lists the values of its model option to choose from.
---@param opts? agent_bridge.SteerOpts
function M.model(opts)
  opts = opts or {}
  local s = session_of(opts)
  if not s then
    return
  end
  local function choose(st)
    local opt = M.model_option(st)
    if not opt then
      return client_mod.notify(st.agent .. " offers no choice of model", vim.log.levels.WARN)
    end
    if opts.value and opts.value ~= "" then
      return set(s, "agentBridge.setOption", { agent = st.agent, optionId = opt.id, value = opts.value }, "model",
        opts.on_done)
    end
    vim.ui.select(M.values(opt), {
      prompt = (opt.name or "Model") .. " of " .. st.agent,
      kind = "agent_bridge.model",
      format_item = function(v)
        local label = v.name ~= v.value and (v.name .. " (" .. v.value .. ")") or v.value
        return string.format("%s %s%s", v.value == opt.currentValue and "●" or " ", label,
          v.group and ("  [" .. v.group .. "]") or "")
      end,
    }, function(choice)
      if choice then
        set(s, "agentBridge.setOption", { agent = st.agent, optionId = opt.id, value = choice.value }, "model",
          opts.on_done)
      end
    end)
  end
  -- The option's id is the agent's: ask for the state first even when the value is given.
  M.fetch(s, opts.agent or M.agent_of(s), function(err, st)
    if err or not st then
      return client_mod.notify("agent state: " .. tostring(err), vim.log.levels.ERROR)
    end
    choose(st)
  end)
end

---@param lead string
---@param items string[]
local function matching(items, lead)
  return vim.tbl_filter(function(x)
    return vim.startswith(x, lead)
  end, items)
end

--- Completion of :AgentMode's argument: the agent's mode ids.
function M.complete_mode(lead)
  local s = require("agent_bridge.prompt").session_for(nil)
  local st = s and M.state_now(s)
  local ids = {}
  for _, m in ipairs(st and st.modes and st.modes.availableModes or {}) do
    table.insert(ids, m.id)
  end
  return matching(ids, lead)
end

--- Completion of :AgentModel's argument: the values of the agent's model option.
function M.complete_model(lead)
  local s = require("agent_bridge.prompt").session_for(nil)
  local opt = s and M.model_option(M.state_now(s))
  local values = {}
  for _, v in ipairs(opt and M.values(opt) or {}) do
    table.insert(values, v.value)
  end
  return matching(values, lead)
end

--- The slash commands the session's agent offers (what is known; asked for when nothing is).
---@param s agent_bridge.Session
---@param agent? string
---@return agent_bridge.SlashCommand[]
function M.commands(s, agent)
  local st = M.state(s, agent)
  if not (st and #st.commands > 0) then
    st = M.state_now(s, agent)
  end
  return st and st.commands or s.commands or {}
end

return M
