-- :AgentRewind: undo the agent's changes of a turn and of every later turn of the session (agentBridge.rewind).
-- The turn comes from the argument or a picker of the session's turns not yet rewound; the user confirms
-- knowing how many turns go. The chat marks them when the bridge's `rewound` event arrives (in every window).
local client_mod = require("agent_bridge.client")

local M = {}

---@class (exact) agent_bridge.RewindResult
---@field turnsUndone integer
---@field files string[]          uris of the files whose agent changes were undone

---@class (exact) agent_bridge.RewindOpts
---@field turn? string            turn id (a prefix is enough); nil: pick one
---@field session? string         session id (default: the current one)
---@field on_done? fun(res: agent_bridge.RewindResult|nil, err: string|nil)

local function first_line(s)
  return vim.split(type(s) == "string" and s or "", "\n", { plain = true })[1]
end

-- Seconds between local time and UTC here (the bridge's times are UTC).
local function utc_offset(t)
  local utc = os.date("!*t", t) --[[@as osdate]]
  utc.isdst = false
  return os.difftime(t, os.time(utc --[[@as osdateparam]]))
end

--- "14:02" for a time of today, else "2026-11-30 14:02" (local time), from an ISO 8601 UTC time.
function M.when(iso)
  local y, mo, d, h, mi, s = tostring(iso or ""):match("^(%d+)-(%d+)-(%d+)[T ](%d+):(%d+):(%d+)")
  if not y then
    return "?"
  end
  local as_local = os.time({ year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h),
    min = tonumber(mi), sec = tonumber(s), isdst = false }) --[[@as integer]]
  local t = as_local + utc_offset(as_local)
  local fmt = os.date("%Y-%m-%d", t) == os.date("%Y-%m-%d") and "%H:%M" or "%Y-%m-%d %H:%M"
  return os.date(fmt, t) --[[@as string]]
end

--- The picker's line for a turn: time, agent, the prompt's first line (and its state when not completed).
---@param entry agent_bridge.HistoryEntry
function M.label(entry)
  local state = entry.status ~= "completed" and ("  (" .. tostring(entry.status) .. ")") or ""
  return string.format("%s  %s  %s%s", M.when(entry.startedAt or entry.queuedAt), entry.agent or "agent",
    first_line(entry.prompt), state)
end

--- The turns a rewind could start from: those not rewound yet, oldest first.
---@param entries agent_bridge.HistoryEntry[]
---@return agent_bridge.HistoryEntry[]
function M.candidates(entries)
  return vim.tbl_filter(function(e)
    return e.rewound ~= true
  end, entries)
end

--- How many turns rewinding from `turn_id` undoes: it and every later turn not rewound yet.
function M.count(entries, turn_id)
  local n, seen = 0, false
  for _, e in ipairs(entries) do
    seen = seen or e.turnId == turn_id
    if seen and e.rewound ~= true then
      n = n + 1
    end
  end
  return n
end

--- The question asked before rewinding.
function M.question(entries, entry)
  local n = M.count(entries, entry.turnId)
  local later = n > 1 and string.format(" and the %d after it", n - 1) or ""
  return string.format('Rewind %d turn%s: undo the agent\'s changes of "%s"%s?\nWhat you applied or wrote stays.',
    n, n == 1 and "" or "s", first_line(entry.prompt), later)
end

--- What the user is told after a rewind.
---@param res agent_bridge.RewindResult
function M.summary(res)
  if (res.turnsUndone or 0) == 0 then
    return "nothing to rewind: those turns were already undone"
  end
  local files = vim.tbl_map(function(uri)
    return vim.fn.fnamemodify(vim.uri_to_fname(uri), ":~:.")
  end, res.files or {})
  return string.format("rewound %d turn%s; %s", res.turnsUndone, res.turnsUndone == 1 and "" or "s",
    #files == 0 and "no file changed" or ("back as before: " .. table.concat(files, ", ")))
end

-- The entry `turn` names: its id or a unique prefix of it.
local function find(entries, turn)
  local found
  for _, e in ipairs(entries) do
    if e.turnId == turn then
      return e
    elseif vim.startswith(e.turnId, turn) then
      if found then
        return nil, "turn " .. turn .. " is ambiguous"
      end
      found = e
    end
  end
  return found, found == nil and ("no turn " .. turn .. " in this session") or nil
end

local function run(c, session_id, entries, entry, opts)
  local done = opts.on_done or function() end
  if vim.fn.confirm(M.question(entries, entry), "&Rewind\n&Cancel", 2, "Question") ~= 1 then
    return done(nil, "cancelled")
  end
  client_mod.exec(c, "agentBridge.rewind", { sessionId = session_id, turnId = entry.turnId }, function(err, res)
    if err then
      client_mod.notify("rewind failed: " .. err, vim.log.levels.ERROR)
      return done(nil, err)
    end
    client_mod.notify(M.summary(res or {}))
    done(res, nil)
  end)
end

--- :AgentRewind [turn]
---@param opts? agent_bridge.RewindOpts
function M.rewind(opts)
  opts = opts or {}
  local s, c = require("agent_bridge.prompt").session_for(opts.session)
  if not s or not c then
    return client_mod.notify("no agent session to rewind", vim.log.levels.WARN)
  end
  client_mod.exec(c, "agentBridge.history", { sessionId = s.id }, function(err, entries)
    if err or type(entries) ~= "table" then
      return client_mod.notify("rewind: " .. (err or "no history"), vim.log.levels.ERROR)
    end
    ---@cast entries agent_bridge.HistoryEntry[]
    if opts.turn and opts.turn ~= "" then
      local entry, why = find(entries, opts.turn)
      if not entry then
        return client_mod.notify(why --[[@as string]], vim.log.levels.ERROR)
      elseif entry.rewound then
        return client_mod.notify("that turn is already rewound", vim.log.levels.WARN)
      end
      return run(c, s.id, entries, entry, opts)
    end
    local choices = M.candidates(entries)
    if #choices == 0 then
      return client_mod.notify("no turn to rewind in session " .. s.id:sub(1, 8), vim.log.levels.WARN)
    end
    -- Newest first: undoing the last turn is the usual case.
    local newest_first = {}
    for i = #choices, 1, -1 do
      table.insert(newest_first, choices[i])
    end
    vim.ui.select(newest_first, {
      prompt = "Rewind from which turn (it and every later one)?",
      kind = "agent_bridge.rewind",
      format_item = M.label,
    }, function(entry)
      if entry then
        run(c, s.id, entries, entry, opts)
      end
    end)
  end)
end

--- Completion: the current session's turns not rewound yet.
function M.complete(lead)
  local s, c = require("agent_bridge.prompt").session_for(nil)
  if not s or not c then
    return {}
  end
  local entries = client_mod.exec_sync(c, "agentBridge.history", { sessionId = s.id }, 1000)
  local ids = {}
  for _, e in ipairs(type(entries) == "table" and M.candidates(entries) or {}) do
    if vim.startswith(e.turnId, lead) then
      table.insert(ids, e.turnId)
    end
  end
  return ids
end

return M
