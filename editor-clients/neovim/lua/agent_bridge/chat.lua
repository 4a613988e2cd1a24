-- One chat buffer per session: the prompts, the agent's streamed text, its reasoning (folded), tool calls with
-- their status, plans as checklists, permission questions, usage and how each turn ended.
--
-- Streamed text and reasoning grow at the end of the buffer; tool calls, plans, usage and permissions are
-- blocks redrawn in place when a later event updates them (see chat_buffer.lua). A chat created for a session
-- with a past (after a restart, or when switching to it) is drawn from the bridge's history first
-- (chat_history.lua).
local blocks = require("agent_bridge.chat_buffer")
local fmt = require("agent_bridge.chat_lines")

local M = {}

---@class (exact) agent_bridge.ChatTurn
---@field prompt? string          the prompt's first line (names the turn in a rewind note)
---@field plan? table             block
---@field usage? table            block
---@field usage_fields? table     the turn's usage events merged
---@field totals? table           the session's usage totals after the turn
---@field pending? table          { files, hunks } as the turn left them
---@field end_block? table        block of the line saying how the turn ended
---@field end_ev? table           the turnEnded fields that line was drawn from
---@field rewound? boolean        its changes were undone (agentBridge.rewind)

---@class (exact) agent_bridge.ChatQueued
---@field ev? table               an agentBridge/event
---@field fn? fun()               a drawing of the plugin's own (a note, usage totals)

---@class (exact) agent_bridge.ChatState
---@field buf integer
---@field blocks table[]          every block: { mark, count, fold, hl }
---@field tail table|nil          { kind = "text"|"reasoning", block }
---@field tools table<string, table>   toolCallId -> block
---@field turns table<string, agent_bridge.ChatTurn>   turnId -> its blocks and state
---@field permissions table<string, table>  toolCallId -> block
---@field folds table|nil         cache: { tick, rows = { [row] = level string } }
---@field loading agent_bridge.ChatQueued[]|nil  while the history is on its way: what arrived meanwhile

---@type table<string, agent_bridge.ChatState>
M.chats = {}

local function set_hl()
  local links = {
    AgentBridgeChatUser = "Title",
    AgentBridgeChatAgent = "Function",
    AgentBridgeChatReasoning = "Comment",
    AgentBridgeChatTool = "Special",
    AgentBridgeChatToolFailed = "DiagnosticError",
    AgentBridgeChatPlan = "Identifier",
    AgentBridgeChatPermission = "WarningMsg",
    AgentBridgeChatUsage = "NonText",
    AgentBridgeChatEnd = "NonText",
    AgentBridgeChatError = "ErrorMsg",
    AgentBridgeChatRewound = "DiagnosticWarn",
    AgentBridgeChatSynced = "NonText",
  }
  for group, link in pairs(links) do
    vim.api.nvim_set_hl(0, group, { link = link, default = true })
  end
end

local function short(id)
  return id and id:sub(1, 8) or "?"
end

-- Rendering of each event kind ------------------------------------------------------------------------------

---@return agent_bridge.ChatTurn
local function turn_state(chat, turn_id)
  local t = chat.turns[turn_id or ""]
  if not t then
    t = {}
    chat.turns[turn_id or ""] = t
  end
  return t
end

local function upsert(chat, block, lines, hl)
  if block then
    blocks.replace(chat, block, lines, hl)
    return block
  end
  return blocks.append(chat, lines, { hl = hl })
end

local render = {}
-- Every event kind the chat draws; chat_history.lua draws history entries through the same functions.
M.render = render

function render.turnStarted(chat, ev, session)
  turn_state(chat, ev.turnId).prompt = vim.split(ev.prompt or "", "\n", { plain = true })[1]
  local lines = { "", "## You" }
  for _, l in ipairs(vim.split(ev.prompt or "", "\n", { plain = true })) do
    table.insert(lines, "> " .. l)
  end
  local context = session.contexts and session.contexts[ev.turnId]
  if context then
    table.insert(lines, "> (with " .. context .. ")")
  end
  blocks.append(chat, lines, { hl = nil })
  local row = blocks.line_count(chat.buf) - #lines + 1
  blocks.modify(chat, function(buf)
    blocks.highlight(buf, row, 1, "AgentBridgeChatUser")
  end)
  blocks.append(chat, { "", "## " .. (ev.agent or "agent") }, { hl = nil })
  blocks.modify(chat, function(buf)
    blocks.highlight(buf, blocks.line_count(buf) - 1, 1, "AgentBridgeChatAgent")
  end)
end

function render.text(chat, ev)
  blocks.stream(chat, "text", ev.text)
end

function render.reasoning(chat, ev)
  blocks.stream(chat, "reasoning", ev.text)
end

--- Draws (or redraws in place) a tool call; `compact`: its status and title only.
function M.draw_tool(chat, ev, compact)
  local id = ev.toolCallId or tostring(#chat.blocks)
  local hl = ev.status == "failed" and "AgentBridgeChatToolFailed" or "AgentBridgeChatTool"
  chat.tools[id] = upsert(chat, chat.tools[id], fmt.tool_lines(ev, compact), hl)
end

function render.toolCall(chat, ev)
  M.draw_tool(chat, ev, false)
end

function render.plan(chat, ev)
  local t = turn_state(chat, ev.turnId)
  t.plan = upsert(chat, t.plan, fmt.plan_lines(ev), "AgentBridgeChatPlan")
end

function render.usage(chat, ev)
  local t = turn_state(chat, ev.turnId)
  t.usage_fields = vim.tbl_extend("force", t.usage_fields or {}, ev)
  t.usage = upsert(chat, t.usage, { fmt.usage_line(t.usage_fields, t.totals) }, "AgentBridgeChatUsage")
end

--- The session's token totals for the agent of a turn that ended (from agentBridge.sessions): the bridge
--- reports a turn's own token counts only there, not as a usage event.
function M.show_totals(session, turn_id, totals)
  local chat = M.chats[session.id]
  if not chat or not vim.api.nvim_buf_is_valid(chat.buf) or type(totals) ~= "table" then
    return
  end
  if not (totals.inputTokens or totals.outputTokens) or (totals.inputTokens == 0 and totals.outputTokens == 0) then
    return
  end
  if chat.loading then
    return table.insert(chat.loading, { fn = function()
      M.show_totals(session, turn_id, totals)
    end })
  end
  local t = turn_state(chat, turn_id)
  t.totals = totals
  local line = fmt.usage_line(t.usage_fields or {}, totals)
  if t.usage then
    blocks.replace(chat, t.usage, { line })
  elseif t.end_block then
    -- Above the turn's last line.
    t.usage = blocks.insert_before(chat, t.end_block, { line }, "AgentBridgeChatUsage")
  end
end

function render.permission(chat, ev)
  local id = ev.toolCallId or tostring(#chat.blocks)
  local entry = chat.permissions[id] or {}
  entry.asked = entry.asked or ev.outcome == "asking"
  if not entry.asked and not entry.block and ev.outcome ~= "rejected" then
    return -- allowed by the policy without asking (edits in the worktree): the tool call says enough
  end
  entry.block = upsert(chat, entry.block, fmt.permission_lines(ev, entry.asked),
    entry.asked and "AgentBridgeChatPermission" or "AgentBridgeChatEnd")
  chat.permissions[id] = entry
end

function render.notice(chat, ev)
  blocks.append(chat, { "! " .. (ev.message or "") }, { hl = "AgentBridgeChatPermission" })
end

function render.modeChanged(chat, ev)
  blocks.append(chat, { "(mode: " .. tostring(ev.modeId) .. ")" }, { hl = "AgentBridgeChatEnd" })
end

function render.pendingChanged(chat, ev)
  if ev.turnId ~= nil and ev.turnId ~= vim.NIL then
    local t = turn_state(chat, ev.turnId)
    t.pending = { files = ev.files, hunks = ev.hunks }
  end
end

local function end_hl(t, ev)
  return (t.rewound and "AgentBridgeChatRewound") or (ev.error and "AgentBridgeChatError") or "AgentBridgeChatEnd"
end

function render.turnEnded(chat, ev)
  local t = turn_state(chat, ev.turnId)
  t.end_ev = ev
  t.end_block = blocks.append(chat, fmt.end_lines(t, ev), { hl = end_hl(t, ev) })
end

--- Marks a turn of the chat as rewound (its end line says so); false when it already was.
function M.mark_rewound(chat, turn_id)
  local t = turn_state(chat, turn_id)
  if t.rewound then
    return false
  end
  t.rewound = true
  if t.end_block and t.end_ev then
    blocks.replace(chat, t.end_block, fmt.end_lines(t, t.end_ev), end_hl(t, t.end_ev))
  end
  return true
end

-- agentBridge.rewind undid turns (from this window or another): mark them, and say what it did.
function render.rewound(chat, ev)
  local ids = type(ev.turnIds) == "table" and ev.turnIds or {}
  for _, id in ipairs(ids) do
    M.mark_rewound(chat, id)
  end
  local named = chat.turns[ev.turnId or ""]
  local from = named and named.prompt and named.prompt ~= "" and string.format(' from "%s"', named.prompt) or ""
  local files = type(ev.files) == "table" and #ev.files or 0
  local line = string.format("⟲ Rewound %s%s: the agent's changes to %s undone", fmt.plural(#ids, "turn"), from,
    fmt.plural(files, "file"))
  blocks.append(chat, { line }, { hl = "AgentBridgeChatRewound" })
end

-- The worktree took in the user's own changes before a turn.
function render.synced(chat, ev)
  local files = type(ev.files) == "table" and #ev.files or 0
  local line = "↻ caught up with your changes to " .. fmt.plural(files, "file")
  if type(ev.conflicts) == "number" and ev.conflicts > 0 then
    line = line .. " · " .. fmt.plural(ev.conflicts, "conflict") .. " with the agent's changes (:AgentPending)"
  end
  blocks.append(chat, { line }, { hl = "AgentBridgeChatSynced" })
end

-- Buffers and windows ----------------------------------------------------------------------------------------

--- The title line of a chat.
function M.header(chat, session)
  local client = vim.lsp.get_client_by_id(session.client_id)
  local root = client and client.root_dir or ""
  blocks.append(chat, { "# Agent session " .. short(session.id) .. (root ~= "" and ("  " .. root) or "") },
    { hl = "AgentBridgeChatUser" })
end

--- Forgets what a chat drew (before the conversation is drawn again).
function M.reset(chat)
  blocks.clear(chat)
  chat.tools, chat.turns, chat.permissions = {}, {}, {}
end

--- A session's chat, created (and drawn from the bridge's history) when there is none.
---@param session agent_bridge.Session
---@return agent_bridge.ChatState
function M.get(session)
  local chat = M.chats[session.id]
  if chat and vim.api.nvim_buf_is_valid(chat.buf) then
    return chat
  end
  set_hl()
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, "agent-bridge://chat/" .. short(session.id))
  vim.bo[buf].buftype = "nofile"
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = "agent_bridge_chat"
  vim.bo[buf].syntax = "markdown"
  vim.b[buf].agent_bridge_session = session.id
  chat = { buf = buf, blocks = {}, tools = {}, turns = {}, permissions = {} }
  M.chats[session.id] = chat
  M.header(chat, session)
  require("agent_bridge.keymaps").chat(buf)
  -- The session may have turns this Neovim never saw (an earlier Neovim's, another editor's).
  require("agent_bridge.chat_history").load(session, chat)
  return chat
end

--- The window showing a session's chat in the current tab, if any.
function M.window(session_id)
  local chat = M.chats[session_id]
  return chat and require("agent_bridge.chat_window").find("agent_bridge_chat", chat.buf) or nil
end

--- Shows a session's chat in the tab's chat window (one window, reused for every session; opened if needed).
--- `opts.focus`: move the cursor there; `opts.redraw`: draw an existing chat again from the bridge's history
--- (a chat just created is drawn from it anyway).
---@param session agent_bridge.Session
---@param opts? { focus?: boolean, redraw?: boolean }
function M.open(session, opts)
  opts = opts or {}
  local existed = M.chats[session.id] ~= nil and vim.api.nvim_buf_is_valid(M.chats[session.id].buf)
  local chat = M.get(session)
  if existed and opts.redraw then
    require("agent_bridge.chat_history").load(session, chat)
  end
  return require("agent_bridge.chat_window").show(chat.buf, { focus = opts.focus })
end

function M.toggle(session)
  local win = M.window(session.id)
  if win and #vim.api.nvim_tabpage_list_wins(0) > 1 then
    require("agent_bridge.chat_window").close()
  else
    M.open(session, { focus = true })
  end
end

--- A line of our own in the chat (e.g. a prompt that failed to start).
function M.note(session, text, hl)
  local chat = M.get(session)
  if chat.loading then
    return table.insert(chat.loading, { fn = function()
      M.note(session, text, hl)
    end })
  end
  blocks.append(chat, vim.split(text, "\n", { plain = true }), { hl = hl or "AgentBridgeChatEnd" })
end

--- One `agentBridge/event` for `session`.
function M.on_event(session, ev)
  local fn = render[ev.kind]
  if not fn then
    return
  end
  local chat = M.get(session)
  if chat.loading then
    table.insert(chat.loading, { ev = ev }) -- drawn after the history, unless the history holds it
    return
  end
  M.draw_event(session, chat, ev)
end

--- Draws one event into a chat (a failure is reported, never raised into the LSP handler).
function M.draw_event(session, chat, ev)
  local fn = render[ev.kind]
  if not fn then
    return
  end
  local ok, err = pcall(fn, chat, ev, session)
  if not ok then
    vim.schedule(function()
      vim.notify("agent-bridge: chat could not show a " .. tostring(ev.kind) .. " event: " .. tostring(err),
        vim.log.levels.WARN)
    end)
  end
end

function M.forget(session_id)
  require("agent_bridge.chat_prompt").forget(session_id)
  local chat = M.chats[session_id]
  M.chats[session_id] = nil
  if chat and vim.api.nvim_buf_is_valid(chat.buf) then
    pcall(vim.api.nvim_buf_delete, chat.buf, { force = true })
  end
end

return M
