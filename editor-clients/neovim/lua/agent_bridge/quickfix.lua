-- The quickfix list of pending hunks (:AgentPending) and applying/rejecting its entries.
local client_mod = require("agent_bridge.client")
local review = require("agent_bridge.review")

local M = {}

local QF_TITLE = "agent-bridge: pending changes"

-- In the quickfix window of :AgentPending: the entries on lines [line1, line2] (bang: their whole files).
function M.selection(opts, what, cb)
  local c = client_mod.for_buffer(0)
  if not c then
    return client_mod.notify("no agent-bridge running", vim.log.levels.WARN)
  end
  local list = vim.fn.getqflist({ title = 1, items = 1 })
  local args, seen = {}, {}
  for i = opts.line1 or vim.fn.line("."), opts.line2 or vim.fn.line(".") do
    local data = list.items[i] and list.items[i].user_data
    if type(data) == "table" and data.sessionId and data.uri then
      local arg = { sessionId = data.sessionId, uri = data.uri, hunkId = not opts.bang and data.hunkId or nil }
      local key = arg.sessionId .. arg.uri .. (arg.hunkId or "")
      if not seen[key] then
        seen[key] = true
        table.insert(args, arg)
      end
    end
  end
  if #args == 0 then
    return client_mod.notify("no agent change on this line of the list to " .. what, vim.log.levels.WARN)
  end
  cb(c, args, function()
    M.pending({ open = false })
  end)
end

local function first_line(text)
  for _, l in ipairs(vim.split(text or "", "\n", { plain = true })) do
    if vim.trim(l) ~= "" then
      return vim.trim(l)
    end
  end
  return nil
end

local function describe_change(file, hunk)
  if file.change == "create" then
    return "new file"
  elseif file.change == "delete" then
    return "delete file"
  elseif file.change == "rename" and (hunk.newText or "") == "" then
    return "rename from " .. vim.fn.fnamemodify(vim.uri_to_fname(file.oldUri or file.uri), ":.")
  elseif file.binary then
    return "binary change"
  end
  local new, old = first_line(hunk.newText), first_line(hunk.oldText)
  if new then
    return "+ " .. new
  end
  return old and ("- " .. old) or "change"
end

--- The quickfix text of a pending hunk: its first changed line (a conflict says so, and why).
function M.describe(file, hunk)
  local what = describe_change(file, hunk)
  if hunk.conflict == true then
    local reason = type(hunk.conflictReason) == "string" and review.short_reason(hunk.conflictReason) or ""
    return "conflict" .. (reason ~= "" and (" (" .. reason .. ")") or "") .. ": " .. what
  end
  return what
end

local function current_line_of(uri, hunk)
  local buf = review.loaded_buf(uri)
  if buf then
    for _, h in ipairs(review.hunks(buf)) do
      if h.hunk_id == hunk.hunkId then
        return h.lnum + 1
      end
    end
  end
  return (hunk.range and hunk.range.start and hunk.range.start.line or 0) + 1
end

--- The quickfix items of agentBridge.pending's answer.
function M.quickfix_items(res)
  local items, sessions = {}, {}
  for _, f in ipairs(res or {}) do
    sessions[f.sessionId] = true
  end
  local several = vim.tbl_count(sessions) > 1
  for _, f in ipairs(res or {}) do
    for _, h in ipairs(f.hunks or {}) do
      local text = string.format("[%s%s] %s", h.agent or "?", several and (" " .. f.sessionId:sub(1, 8)) or "",
        M.describe(f, h))
      table.insert(items, {
        filename = vim.uri_to_fname(f.uri),
        lnum = current_line_of(f.uri, h),
        col = 1,
        text = text,
        type = h.conflict == true and "W" or "I",
        user_data = { sessionId = f.sessionId, hunkId = h.hunkId, uri = f.uri },
      })
    end
  end
  return items
end

--- :AgentPending — every pending hunk of the workspace's sessions in the quickfix list.
function M.pending(opts)
  opts = opts or {}
  local c = client_mod.for_buffer(0)
  if not c then
    return client_mod.notify("no agent-bridge for this buffer (is it inside a git repository?)", vim.log.levels.WARN)
  end
  client_mod.exec(c, "agentBridge.pending", {}, function(err, res)
    if err then
      return client_mod.notify(err, vim.log.levels.ERROR)
    end
    local items = M.quickfix_items(res)
    -- Refreshing our own list replaces it; otherwise a new list goes on the quickfix stack.
    local action = vim.fn.getqflist({ title = 1 }).title == QF_TITLE and "r" or " "
    vim.fn.setqflist({}, action, { title = QF_TITLE, items = items })
    if #items == 0 then
      client_mod.notify("no pending agent changes")
    elseif opts.open ~= false then
      vim.cmd("botright copen")
    end
    if opts.on_done then
      opts.on_done(items)
    end
  end)
end

return M
