-- A chat drawn again from `agentBridge.history`: when the chat buffer of a session is created (after Neovim
-- restarts, when a wiped chat is reopened, for a session another editor started) and when the user switches
-- to a session. Each turn shows its prompt, its tool calls (status and title), its plan, the answer, usage and
-- how it ended, marked when it was rewound. Entries from a bridge without those fields show what they have.
--
-- Events that arrive while the history is on its way wait: the ones the history already holds (turns it
-- reports finished) are dropped, the rest are drawn after it, so a running turn goes on streaming.
local client_mod = require("agent_bridge.client")

local M = {}

---@class (exact) agent_bridge.HistoryToolCall
---@field toolCallId string
---@field title? string
---@field toolKind? string
---@field status? string          pending | in_progress | completed | failed
---@field paths? string[]
---@field command? string
---@field output? string

---@class (exact) agent_bridge.HistoryEntry
---@field turnId string
---@field agent? string
---@field prompt? string
---@field status string           queued | running | completed | failed | cancelled
---@field stopReason? string
---@field error? string
---@field answer? string
---@field queuedAt? string
---@field startedAt? string
---@field endedAt? string
---@field rewound? boolean
---@field toolCalls? agent_bridge.HistoryToolCall[]
---@field plan? { content: string, status: string, priority: string }[]
---@field usage? table
---@field permissions? table[]

-- A turn the history reports still open: its later events are still to come.
local OPEN = { queued = true, running = true }

local function list(v)
  return type(v) == "table" and v or {}
end

local function text(v)
  return type(v) == "string" and v or nil
end

--- Draws one history entry through the event renderers (so it looks as it did live).
---@param entry agent_bridge.HistoryEntry
---@param skip_answer? boolean  the answer comes from events that arrived meanwhile
function M.draw_entry(chat, session, entry, skip_answer)
  local chat_mod = require("agent_bridge.chat")
  local render = chat_mod.render
  local id = entry.turnId
  render.turnStarted(chat, { turnId = id, agent = text(entry.agent), prompt = text(entry.prompt) or "" }, session)
  if type(entry.plan) == "table" and #entry.plan > 0 then
    render.plan(chat, { turnId = id, entries = entry.plan })
  end
  for _, call in ipairs(list(entry.toolCalls)) do
    chat_mod.draw_tool(chat, vim.tbl_extend("force", call, { sessionId = session.id, turnId = id }), true)
  end
  local answer = text(entry.answer)
  if answer and answer ~= "" and not skip_answer then
    render.text(chat, { turnId = id, text = answer })
  end
  if type(entry.usage) == "table" and next(entry.usage) then
    render.usage(chat, vim.tbl_extend("force", entry.usage, { turnId = id }))
  end
  if not OPEN[entry.status] then
    render.turnEnded(chat, { turnId = id, agent = text(entry.agent), status = entry.status,
      stopReason = text(entry.stopReason), error = text(entry.error) })
  end
  if entry.rewound == true then
    chat_mod.mark_rewound(chat, id)
  end
end

local function turn_of(ev)
  return type(ev.turnId) == "string" and ev.turnId or nil
end

local STREAM = { text = true }

--- Redraws `chat` from `entries`, then what arrived meanwhile (`queued`) that the history does not hold.
---@param entries agent_bridge.HistoryEntry[]
---@param queued agent_bridge.ChatQueued[]
function M.draw(session, chat, entries, queued)
  local chat_mod = require("agent_bridge.chat")
  local by_id, streamed = {}, {}
  for _, entry in ipairs(entries) do
    by_id[entry.turnId] = entry
  end
  for _, q in ipairs(queued) do
    if q.ev and STREAM[q.ev.kind] and turn_of(q.ev) then
      streamed[turn_of(q.ev)] = true
    end
  end
  chat_mod.reset(chat)
  chat_mod.header(chat, session)
  for _, entry in ipairs(entries) do
    -- An open turn's answer so far: from the events that arrived meanwhile when there are some.
    M.draw_entry(chat, session, entry, OPEN[entry.status] and streamed[entry.turnId])
  end
  for _, q in ipairs(queued) do
    if q.fn then
      q.fn()
    else
      local entry = by_id[turn_of(q.ev) or ""]
      if not entry or (OPEN[entry.status] and q.ev.kind ~= "turnStarted") then
        chat_mod.draw_event(session, chat, q.ev)
      end
    end
  end
end

--- Fetches the session's history and draws the chat from it (asynchronously; events wait meanwhile).
---@param session agent_bridge.Session
---@param chat agent_bridge.ChatState
---@param on_done? fun(entries: agent_bridge.HistoryEntry[]|nil)
function M.load(session, chat, on_done)
  local c = client_mod.by_id(session.client_id)
  if not c or chat.loading then
    return on_done and on_done(nil)
  end
  chat.loading = {}
  client_mod.exec(c, "agentBridge.history", { sessionId = session.id }, function(err, entries)
    local queued = chat.loading or {}
    chat.loading = nil
    local chat_mod = require("agent_bridge.chat")
    if chat_mod.chats[session.id] ~= chat or not vim.api.nvim_buf_is_valid(chat.buf) then
      return on_done and on_done(nil) -- closed meanwhile
    end
    if err or type(entries) ~= "table" then
      -- Nothing to draw from (a session the bridge no longer has): what arrived is drawn as it is.
      for _, q in ipairs(queued) do
        if q.fn then
          q.fn()
        else
          chat_mod.draw_event(session, chat, q.ev)
        end
      end
      return on_done and on_done(nil)
    end
    local ok, draw_err = pcall(M.draw, session, chat, entries, queued)
    if not ok then
      client_mod.notify("the chat could not show the session's history: " .. tostring(draw_err),
        vim.log.levels.WARN)
    end
    if on_done then
      on_done(entries)
    end
  end)
end

return M
