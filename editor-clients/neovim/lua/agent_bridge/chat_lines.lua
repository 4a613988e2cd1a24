-- The chat's lines for each kind of thing it shows (tool calls, plans, usage, permissions, a turn's end):
-- text only; chat.lua decides where they go.
local config = require("agent_bridge.config")

local M = {}

local STATUS_ICON = { pending = "○", in_progress = "◐", completed = "✓", failed = "✗" }
local PLAN_BOX = { pending = "[ ]", in_progress = "[-]", completed = "[x]" }

-- Agents report absolute paths inside the session worktree (<state>/worktrees/<session id>/...): show them
-- relative to it.
function M.relative(path, session_id)
  local rel = path:match("/worktrees/" .. vim.pesc(session_id) .. "/(.+)$")
  return rel or path
end

--- A tool call's lines; `compact`: its first line only (status and title), as the history shows it.
function M.tool_lines(ev, compact)
  local icon = STATUS_ICON[ev.status] or "•"
  local head = string.format("%s %s", icon, ev.title or ev.toolKind or "tool")
  local meta = { ev.toolKind, ev.status }
  head = head .. "  (" .. table.concat(vim.tbl_filter(function(x)
    return type(x) == "string"
  end, meta), ", ") .. ")"
  local lines = { head }
  if compact then
    return lines
  end
  if type(ev.command) == "string" and ev.command ~= "" then
    table.insert(lines, "    $ " .. ev.command)
  end
  if type(ev.paths) == "table" and #ev.paths > 0 then
    local paths = vim.tbl_map(function(p)
      return M.relative(p, ev.sessionId or "")
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

function M.plan_lines(ev)
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
function M.usage_line(ev, totals)
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
function M.permission_lines(ev, asked)
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
    table.insert(lines, "    in " .. (in_worktree and "the session worktree" or M.relative(ev.cwd, ev.sessionId or "")))
  end
  if type(ev.reason) == "string" and ev.reason ~= "" and ev.outcome ~= "asking" then
    table.insert(lines, "    (" .. ev.reason .. ")")
  end
  return lines
end

---@param t agent_bridge.ChatTurn
function M.end_lines(t, ev)
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
  if t.rewound then
    tail = tail .. " · rewound: its changes were undone"
  end
  table.insert(lines, tail .. " ──")
  return lines
end

function M.plural(n, word)
  return string.format("%d %s%s", n, word, n == 1 and "" or "s")
end

return M
