-- Prompting and cancelling: which bridge, which session, which agent, and the selection sent as context.
local chat = require("agent_bridge.chat")
local client_mod = require("agent_bridge.client")
local config = require("agent_bridge.config")
local mentions = require("agent_bridge.mentions")
local sessions = require("agent_bridge.sessions")

local M = {}

---@class agent_bridge.PromptOpts
---@field text string
---@field agent? string         agent for this prompt (default: :AgentAgents' choice, else the bridge's default)
---@field session? string       session id (default: the current session of the buffer's bridge)
---@field new? boolean          start a new session
---@field bufnr? integer        buffer whose bridge to use (default: current)
---@field range? integer[]      { first, last } 1-based lines of bufnr sent as context
---@field attachments? agent_bridge.Attachment[]  more files sent with the prompt (`@path` mentions are added)
---@field on_queued? fun(result: { sessionId: string, turnId: string })

---@param opts agent_bridge.PromptOpts
function M.prompt(opts)
  local text = opts.text
  if type(text) ~= "string" or vim.trim(text) == "" then
    return client_mod.notify("empty prompt", vim.log.levels.WARN)
  end
  local bufnr = (opts.bufnr == nil or opts.bufnr == 0) and vim.api.nvim_get_current_buf() or opts.bufnr
  -- Right after a file is opened its bridge may still be starting: the prompt waits for it.
  client_mod.when_ready(bufnr, function(c, why)
    if not c or not vim.api.nvim_buf_is_valid(bufnr) then
      return client_mod.notify(why or "the buffer was closed before the bridge started", vim.log.levels.WARN)
    end
    M._send(c, bufnr, text, opts)
  end)
end

---@param c vim.lsp.Client
---@param bufnr integer
---@param text string
---@param opts agent_bridge.PromptOpts
function M._send(c, bufnr, text, opts)
  local arg = { text = text }
  local agent = opts.agent or sessions.agent
  if agent then
    arg.agent = agent
  end
  local s
  if not opts.new then
    s = opts.session and sessions.get(opts.session) or nil
    s = s or sessions.get(vim.b[bufnr].agent_bridge_session or "") or sessions.current(c.id)
  end
  if s then
    arg.sessionId = s.id
  else
    -- No current session here (or `--new`, or "+ New session"): start one. Without `newSession` the bridge
    -- would continue the workspace's latest session, which is not the one this client shows.
    arg.newSession = true
  end
  -- What goes with the prompt: the selection, the files it mentions (`@greet.py`), the caller's; named in the
  -- chat when the turn starts (the bridge's turnStarted carries only the text).
  local attachments, names = {}, {}
  if opts.range then
    if vim.bo[bufnr].buftype ~= "" then
      return client_mod.notify("a selection can only be sent from a file buffer", vim.log.levels.WARN)
    end
    table.insert(attachments, {
      uri = vim.uri_from_bufnr(bufnr),
      range = {
        start = { line = opts.range[1] - 1, character = 0 },
        ["end"] = { line = opts.range[2], character = 0 },
      },
    })
    table.insert(names, string.format("%s, lines %d-%d", vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":t"),
      opts.range[1], opts.range[2]))
  end
  local mentioned, mentioned_names = mentions.attachments(text, c.root_dir or vim.fn.getcwd())
  vim.list_extend(attachments, mentioned)
  vim.list_extend(names, mentioned_names)
  for _, a in ipairs(opts.attachments or {}) do
    table.insert(attachments, a)
    table.insert(names, vim.fn.fnamemodify(vim.uri_to_fname(a.uri), ":t"))
  end
  if #attachments > 0 then
    arg.attachments = attachments
  end
  local function send(a, retried)
    client_mod.exec(c, "agentBridge.prompt", a, function(err, res)
      if err then
        if not retried and a.sessionId and err:find("unknown session", 1, true) then
          -- The session was closed elsewhere: start a new one.
          sessions.forget(a.sessionId)
          a.sessionId = nil
          a.newSession = true
          return send(a, true)
        end
        return client_mod.notify("prompt failed: " .. err, vim.log.levels.ERROR)
      end
      if #names > 0 then
        local s = sessions.ensure(res.sessionId, c.id)
        s.contexts = s.contexts or {}
        s.contexts[res.turnId] = table.concat(names, "; ")
      end
      sessions.queued(c.id, res.sessionId, res.turnId, a.agent, text)
      if config.options.chat.open == "prompt" then
        chat.open(sessions.get(res.sessionId))
      end
      if opts.on_queued then
        opts.on_queued(res)
      end
    end)
  end
  send(arg, false)
end

--- Asks for the prompt text with vim.ui.input (<Tab> completes `@` files and `/` commands), then prompts.
---@param opts agent_bridge.PromptOpts without text
function M.ask(opts)
  local completion = "customlist,v:lua.require'agent_bridge.mentions'.complete_input"
  vim.ui.input({ prompt = "Prompt agent: ", completion = completion }, function(input)
    if input and vim.trim(input) ~= "" then
      M.prompt(vim.tbl_extend("force", opts, { text = input }))
    end
  end)
end

--- The session a command acts on: the given id, the buffer's chat session, or the bridge's current session.
---@return agent_bridge.Session|nil, vim.lsp.Client|nil
function M.session_for(session_id, bufnr)
  bufnr = bufnr or vim.api.nvim_get_current_buf()
  local s = session_id and session_id ~= "" and sessions.get(session_id) or nil
  if not s and session_id and session_id ~= "" then
    for id, candidate in pairs(sessions.by_id) do
      if vim.startswith(id, session_id) then
        s = candidate
      end
    end
  end
  s = s or sessions.get(vim.b[bufnr].agent_bridge_session or "")
  local c = s and client_mod.by_id(s.client_id) or client_mod.for_buffer(bufnr)
  s = s or (c and sessions.current(c.id))
  return s, c
end

-- A cancel that reaches the bridge before the agent has received the turn's prompt can be lost (the agent
-- ignores a cancel for a prompt it has not seen): while the turn still runs, cancel again.
function M._ensure_cancelled(c, s, turn_id, tries)
  vim.defer_fn(function()
    local t = s.turn
    if tries <= 0 or not t or t.id ~= turn_id or t.status ~= "running" or not client_mod.by_id(c.id) then
      return
    end
    client_mod.exec(c, "agentBridge.cancel", { sessionId = s.id }, function(err, res)
      if not err and res and res.cancelled then
        M._ensure_cancelled(c, s, turn_id, tries - 1)
      end
    end)
  end, 1500)
end

--- :AgentCancel — cancels the running turn of the session.
function M.cancel(session_id, on_done)
  local s, c = M.session_for(session_id)
  if not s or not c then
    return client_mod.notify("no agent session to cancel", vim.log.levels.WARN)
  end
  local turn_id = s.turn and s.turn.id
  client_mod.exec(c, "agentBridge.cancel", { sessionId = s.id }, function(err, res)
    if err then
      return client_mod.notify("cancel failed: " .. err, vim.log.levels.ERROR)
    end
    if not (res and res.cancelled) then
      client_mod.notify("no turn running in session " .. s.id:sub(1, 8))
    elseif turn_id then
      M._ensure_cancelled(c, s, turn_id, 3)
    end
    if on_done then
      on_done(res)
    end
  end)
end

return M
