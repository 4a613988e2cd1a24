-- One chat buffer per session: the prompts, the agent's streamed text, its reasoning (folded), tool calls with
-- their status, plans as checklists, permission questions, usage and how each turn ended.
--
-- Streamed text and reasoning grow at the end of the buffer; tool calls, plans, usage and permissions are
-- blocks redrawn in place when a later event updates them (see chat_buffer.lua).
local blocks = require("agent_bridge.chat_buffer")
local config = require("agent_bridge.config")

local M = {}

---@class agent_bridge.ChatState
---@field buf integer
---@field blocks table[]          every block: { mark, count, fold, hl }
---@field tail table|nil          { kind = "text"|"reasoning", block }
---@field tools table<string, table>   toolCallId -> block
---@field turns table<string, table>   turnId -> { plan = block, usage = block }
---@field permissions table<string, table>  toolCallId -> block
---@field folds table|nil         cache: { tick, rows = { [row] = level string } }

---@type table<string, agent_bridge.ChatState>
M.chats = {}

local STATUS_ICON = { pending = "○", in_progress = "◐", completed = "✓", failed = "✗" }
local PLAN_BOX = { pending = "[ ]", in_progress = "[-]", completed = "[x]" }

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
  }
  for group, link in pairs(links) do
    vim.api.nvim_set_hl(0, group, { link = link, default = true })
  end
end

local function short(id)
  return id and id:sub(1, 8) or "?"
end

-- Rendering of each event kind ------------------------------------------------------------------------------

-- Agents report absolute paths inside the session worktree (<state>/worktrees/<session id>/...): show them
-- relative to it.
local function relative(path, session_id)
  local rel = path:match("/worktrees/" .. vim.pesc(session_id) .. "/(.+)$")
  return rel or path
end

local function tool_lines(ev)
  local icon = STATUS_ICON[ev.status] or "•"
  local head = string.format("%s %s", icon, ev.title or ev.toolKind or "tool")
  local meta = { ev.toolKind, ev.status }
  head = head .. "  (" .. table.concat(vim.tbl_filter(function(x)
    return type(x) == "string"
  end, meta), ", ") .. ")"
  local lines = { head }
  if type(ev.command) == "string" and ev.command ~= "" then
    table.insert(lines, "    $ " .. ev.command)
  end
  if type(ev.paths) == "table" and #ev.paths > 0 then
    local paths = vim.tbl_map(function(p)
      return relative(p, ev.sessionId or "")
    end, ev.paths)
    if not (ev.title or ""):find(paths[1], 1, true) then
      table.insert(lines, "    " .. table.concat(paths, ", "))
    end
  end
  local max = config.options.chat.tool_output_lines or 0
  if type(ev.output) == "string" and ev.output ~= "" and max > 0 then
    local out = vim.split(vim.trim(ev.output), "\n", { plain = true })
    for i = 1, math.min(#out, max) do
      table.insert(lines, "    │ " .. out[i])
    end
    if #out > max then
      table.insert(lines, string.format("    │ ... (%d more lines)", #out - max))
    end
  end
  return lines
end

local function plan_lines(ev)
  local lines = { "Plan:" }
  for _, e in ipairs(ev.entries or {}) do
    table.insert(lines, string.format("- %s %s", PLAN_BOX[e.status] or "[ ]", e.content or ""))
  end
  return lines
end

local function fmt_num(n)
  return type(n) == "number" and tostring(math.floor(n)) or nil
end

local function tokens(input, output, total)
  local parts = {}
  if input then
    table.insert(parts, fmt_num(input) .. " in")
  end
  if output then
    table.insert(parts, fmt_num(output) .. " out")
  end
  if total and not (input and output) then
    table.insert(parts, fmt_num(total) .. " total")
  end
  return #parts > 0 and (table.concat(parts, " · ") .. " tokens") or nil
end

-- `ev`: the turn's usage events merged; `totals`: the session's usage for the agent (after the turn).
local function usage_line(ev, totals)
  local parts = {}
  table.insert(parts, tokens(ev.inputTokens, ev.outputTokens, ev.totalTokens))
  if ev.contextUsed and ev.contextSize then
    table.insert(parts, string.format("context %s/%s", fmt_num(ev.contextUsed), fmt_num(ev.contextSize)))
  end
  if type(ev.cost) == "number" then
    table.insert(parts, string.format("cost %.4f %s", ev.cost, ev.currency or ""))
  end
  if totals then
    local t = tokens(totals.inputTokens, totals.outputTokens)
    if t then
      table.insert(parts, "session " .. t)
    end
    if type(totals.cost) == "number" and totals.cost > 0 then
      table.insert(parts, string.format("session cost %.4f", totals.cost))
    end
  end
  return "Usage: " .. table.concat(parts, " · ")
end

local OUTCOME = {
  asking = "waiting for your answer",
  allowed = "allowed",
  allowedAlways = "always allowed",
  rejected = "rejected",
}

-- `asked`: the user was asked (else the bridge's policy decided on its own).
local function permission_lines(ev, asked)
  local what = (type(ev.command) == "string" and ev.command ~= "" and ("run: " .. ev.command)) or ev.title or "?"
  local outcome = OUTCOME[ev.outcome] or ev.outcome or ""
  if not asked then
    local line = string.format("✗ %s by policy: %s", outcome, what)
    if type(ev.reason) == "string" and ev.reason ~= "" then
      line = line .. " (" .. ev.reason .. ")"
    end
    return { line }
  end
  local lines = { string.format("? Permission: %s — %s", what, outcome) }
  if type(ev.cwd) == "string" and ev.cwd ~= "" then
    local in_worktree = ev.cwd:match("/worktrees/" .. vim.pesc(ev.sessionId or "") .. "/?$")
    table.insert(lines, "    in " .. (in_worktree and "the session worktree" or relative(ev.cwd, ev.sessionId or "")))
  end
  if type(ev.reason) == "string" and ev.reason ~= "" and ev.outcome ~= "asking" then
    table.insert(lines, "    (" .. ev.reason .. ")")
  end
  return lines
end

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

function render.turnStarted(chat, ev, session)
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

function render.toolCall(chat, ev)
  local id = ev.toolCallId or tostring(#chat.blocks)
  local hl = ev.status == "failed" and "AgentBridgeChatToolFailed" or "AgentBridgeChatTool"
  chat.tools[id] = upsert(chat, chat.tools[id], tool_lines(ev), hl)
end

function render.plan(chat, ev)
  local t = turn_state(chat, ev.turnId)
  t.plan = upsert(chat, t.plan, plan_lines(ev), "AgentBridgeChatPlan")
end

function render.usage(chat, ev)
  local t = turn_state(chat, ev.turnId)
  t.usage_fields = vim.tbl_extend("force", t.usage_fields or {}, ev)
  t.usage = upsert(chat, t.usage, { usage_line(t.usage_fields, t.totals) }, "AgentBridgeChatUsage")
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
  local t = turn_state(chat, turn_id)
  t.totals = totals
  local line = usage_line(t.usage_fields or {}, totals)
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
  entry.block = upsert(chat, entry.block, permission_lines(ev, entry.asked),
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

function render.turnEnded(chat, ev)
  local t = turn_state(chat, ev.turnId)
  local status = ev.status or "ended"
  if ev.stopReason and ev.stopReason ~= "end_turn" then
    status = status .. ", " .. ev.stopReason
  end
  local lines = {}
  if ev.error then
    for _, l in ipairs(vim.split(ev.error, "\n", { plain = true })) do
      table.insert(lines, "✗ " .. l)
    end
  end
  local tail = "── " .. status
  if t.pending and (t.pending.hunks or 0) > 0 then
    tail = tail .. string.format(" · %d pending change%s in %d file%s (:AgentPending)", t.pending.hunks,
      t.pending.hunks == 1 and "" or "s", t.pending.files or 0, t.pending.files == 1 and "" or "s")
  end
  table.insert(lines, tail .. " ──")
  t.end_block = blocks.append(chat, lines, { hl = ev.error and "AgentBridgeChatError" or "AgentBridgeChatEnd" })
end

-- Buffers and windows ----------------------------------------------------------------------------------------

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
  local client = vim.lsp.get_client_by_id(session.client_id)
  local root = client and client.root_dir or ""
  blocks.append(chat, { "# Agent session " .. short(session.id) .. (root ~= "" and ("  " .. root) or "") },
    { hl = "AgentBridgeChatUser" })
  vim.keymap.set("n", "q", "<cmd>silent! close<cr>", { buffer = buf, desc = "Close the chat window" })
  return chat
end

local function setup_window(win)
  local wo = vim.wo[win]
  wo.foldmethod = "expr"
  wo.foldexpr = "v:lua.require'agent_bridge.chat_buffer'.foldexpr(v:lnum)"
  wo.foldtext = "v:lua.require'agent_bridge.chat_buffer'.foldtext()"
  wo.foldlevel = 0
  wo.foldenable = true
  wo.wrap = true
  wo.linebreak = true
  wo.number = false
  wo.relativenumber = false
  wo.signcolumn = "no"
  wo.conceallevel = 0
end

local function size(total, value)
  if value < 1 then
    return math.max(20, math.floor(total * value))
  end
  return math.floor(value)
end

--- The window showing a session's chat in the current tab, if any.
function M.window(session_id)
  local chat = M.chats[session_id]
  if not chat then
    return nil
  end
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if vim.api.nvim_win_get_buf(win) == chat.buf then
      return win
    end
  end
  return nil
end

--- Shows a session's chat (opening a window if needed). `opts.focus`: move the cursor there.
---@param session agent_bridge.Session
function M.open(session, opts)
  opts = opts or {}
  local chat = M.get(session)
  local win = M.window(session.id)
  if not win then
    local prev = vim.api.nvim_get_current_win()
    local pos = config.options.chat.position
    local value = config.options.chat.size
    if pos == "tab" then
      vim.cmd("tab split")
    elseif pos == "right" or pos == "left" then
      vim.cmd((pos == "right" and "botright " or "topleft ") .. size(vim.o.columns, value) .. "vsplit")
    else
      vim.cmd((pos == "bottom" and "botright " or "topleft ") .. size(vim.o.lines, value) .. "split")
    end
    win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(win, chat.buf)
    setup_window(win)
    pcall(vim.api.nvim_win_set_cursor, win, { blocks.line_count(chat.buf), 0 })
    if not opts.focus and vim.api.nvim_win_is_valid(prev) then
      vim.api.nvim_set_current_win(prev)
    end
  elseif opts.focus then
    vim.api.nvim_set_current_win(win)
  end
  return win
end

function M.toggle(session)
  local win = M.window(session.id)
  if win and #vim.api.nvim_tabpage_list_wins(0) > 1 then
    vim.api.nvim_win_close(win, false)
  else
    M.open(session, { focus = true })
  end
end

--- A line of our own in the chat (e.g. a prompt that failed to start).
function M.note(session, text, hl)
  blocks.append(M.get(session), vim.split(text, "\n", { plain = true }), { hl = hl or "AgentBridgeChatEnd" })
end

--- One `agentBridge/event` for `session`.
function M.on_event(session, ev)
  local fn = render[ev.kind]
  if not fn then
    return
  end
  local chat = M.get(session)
  local ok, err = pcall(fn, chat, ev, session)
  if not ok then
    vim.schedule(function()
      vim.notify("agent-bridge: chat could not show a " .. tostring(ev.kind) .. " event: " .. tostring(err),
        vim.log.levels.WARN)
    end)
  end
end

function M.forget(session_id)
  local chat = M.chats[session_id]
  M.chats[session_id] = nil
  if chat and vim.api.nvim_buf_is_valid(chat.buf) then
    pcall(vim.api.nvim_buf_delete, chat.buf, { force = true })
  end
end

return M
