-- Reviewing agents' changes: pending hunks drawn in buffers (signs + end-of-line text, from the bridge's hint
-- diagnostics, which follow your edits; conflict hunks, where you and the agent changed the same lines, drawn
-- apart from the bridge's warning diagnostics), apply/reject of the hunk under the cursor or the whole file (or of
-- entries of the quickfix list), and the quickfix list of pending hunks. The diff view is in diff.lua.
local client_mod = require("agent_bridge.client")
local config = require("agent_bridge.config")

local M = {}

M.ns = vim.api.nvim_create_namespace("agent_bridge_hunks")
local SOURCE = "agent-bridge"

local function set_hl()
  vim.api.nvim_set_hl(0, "AgentBridgeHunkSign", { link = "DiffChange", default = true })
  vim.api.nvim_set_hl(0, "AgentBridgeHunkText", { link = "DiagnosticHint", default = true })
  vim.api.nvim_set_hl(0, "AgentBridgeHunkConflictSign", { link = "DiagnosticWarn", default = true })
  vim.api.nvim_set_hl(0, "AgentBridgeHunkConflictText", { link = "DiagnosticWarn", default = true })
end

-- A conflict's reason as a label: its first clause ("you and the agent both changed these lines; this is the
-- agent's version, ..." → the part before ";"); the diagnostic's float has it whole.
local function short_reason(reason)
  return vim.trim(reason:match("^(.-)[;(]") or reason)
end

---@class (exact) agent_bridge.Hunk
---@field lnum integer      first line (0-based)
---@field last integer      last line (0-based, inclusive)
---@field session_id string
---@field hunk_id string
---@field label string      "agent: summary"
---@field conflict boolean  you and the agent both changed these lines: applying puts the agent's version

--- Pending hunks shown in a buffer, from the bridge's hint diagnostics (positions follow the user's edits).
---@param bufnr integer
---@return agent_bridge.Hunk[]
function M.hunks(bufnr)
  local out = {}
  -- A hunk appended after the last line sits on a line the cursor cannot reach: the last line stands for it.
  local max = vim.api.nvim_buf_line_count(bufnr) - 1
  for _, d in ipairs(vim.diagnostic.get(bufnr)) do
    local data = d.user_data and d.user_data.lsp and d.user_data.lsp.data
    if d.source == SOURCE and type(data) == "table" and data.sessionId and data.hunkId then
      local last = d.end_lnum or d.lnum
      if last > d.lnum and (d.end_col or 0) == 0 then
        last = last - 1
      end
      local msg = d.message or ""
      local agent, summary = msg:match("^Pending agent change from (.-): (.-)%. Use a code action")
      if not agent then
        agent, summary = msg:match("^Pending agent change from (.-) collides with your edit: (.-)%.?$")
        summary = summary and short_reason(summary)
      end
      table.insert(out, {
        lnum = math.min(d.lnum, max),
        last = math.min(math.max(last, d.lnum), max),
        session_id = data.sessionId,
        hunk_id = data.hunkId,
        label = agent and (agent .. ": " .. summary) or d.message,
        -- The bridge publishes conflict hunks as warnings (the others as hints).
        conflict = data.conflict == true or d.severity == vim.diagnostic.severity.WARN,
      })
    end
  end
  table.sort(out, function(a, b)
    return a.lnum < b.lnum
  end)
  return out
end

--- Redraws the signs and end-of-line labels of a buffer's pending hunks.
function M.render(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) then
    return
  end
  vim.api.nvim_buf_clear_namespace(bufnr, M.ns, 0, -1)
  local opts = config.options.review
  if not (opts.signs or opts.virtual_text) then
    return
  end
  local count = vim.api.nvim_buf_line_count(bufnr)
  for _, h in ipairs(M.hunks(bufnr)) do
    local first = math.min(h.lnum, count - 1)
    local last = math.min(h.last, count - 1)
    for row = first, last do
      local mark = { priority = 20 }
      if opts.signs then
        mark.sign_text = h.conflict and opts.conflict_sign_text or opts.sign_text
        mark.sign_hl_group = h.conflict and "AgentBridgeHunkConflictSign" or "AgentBridgeHunkSign"
      end
      if row == first and opts.virtual_text then
        mark.virt_text = h.conflict and { { "  conflict: " .. h.label, "AgentBridgeHunkConflictText" } }
          or { { "  " .. h.label, "AgentBridgeHunkText" } }
        mark.virt_text_pos = "eol"
      end
      vim.api.nvim_buf_set_extmark(bufnr, M.ns, row, 0, mark)
    end
  end
end

function M.setup()
  set_hl()
  local group = vim.api.nvim_create_augroup("agent_bridge.review", { clear = true })
  vim.api.nvim_create_autocmd("DiagnosticChanged", {
    group = group,
    callback = function(args)
      M.render(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd("ColorScheme", { group = group, callback = set_hl })
  vim.api.nvim_create_autocmd("LspAttach", {
    group = group,
    callback = function(args)
      local c = vim.lsp.get_client_by_id(args.data.client_id)
      if c and c.name == client_mod.name and config.options.review.signs and config.options.review.hide_diagnostic_signs then
        -- The plugin's signs replace the hint diagnostics' own (which stay for ]d, underline, float).
        vim.diagnostic.config({ signs = false }, vim.lsp.diagnostic.get_namespace(c.id, false))
      end
    end,
  })
end

-- The loaded buffer showing `uri`, if any (never creates one).
local function loaded_buf(uri)
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.uri_from_bufnr(buf) == uri then
      return buf
    end
  end
  return nil
end

--- Makes the next edit of each buffer an undo step of its own (before a workspace/applyEdit).
function M.break_undo_for(edit)
  if type(edit) ~= "table" then
    return
  end
  local uris = {}
  for uri in pairs(edit.changes or {}) do
    uris[uri] = true
  end
  for _, change in ipairs(edit.documentChanges or {}) do
    if change.textDocument and change.textDocument.uri then
      uris[change.textDocument.uri] = true
    end
  end
  for uri in pairs(uris) do
    local buf = loaded_buf(uri)
    if buf then
      vim.api.nvim_buf_call(buf, function()
        vim.go.undolevels = vim.go.undolevels -- :help undo-break
      end)
    end
  end
end

--- The bridge client and URI of a buffer (nil, with a message, when it has no bridge).
function M.target(bufnr)
  local c = client_mod.for_buffer(bufnr)
  if not c then
    client_mod.notify("no agent-bridge for this buffer (is it inside a git repository?)", vim.log.levels.WARN)
    return nil
  end
  return c, vim.uri_from_bufnr(bufnr)
end

-- Runs `command` for each argument one after the other (each apply changes the buffer the next one sees),
-- then `done(results, errors)`.
local function chain(c, command, args, done)
  local results, errors = {}, {}
  local function step(i)
    if i > #args then
      return done(results, errors)
    end
    client_mod.exec(c, command, args[i], function(err, res)
      if err then
        table.insert(errors, err)
      else
        table.insert(results, res)
      end
      step(i + 1)
    end)
  end
  step(1)
end

--- Sessions with pending changes in `uri` (cb gets a list of session ids).
function M.sessions_with_changes(c, uri, cb)
  client_mod.exec(c, "agentBridge.pending", { uri = uri }, function(err, res)
    if err then
      return client_mod.notify(err, vim.log.levels.ERROR)
    end
    local ids, seen = {}, {}
    for _, f in ipairs(res or {}) do
      if not seen[f.sessionId] then
        seen[f.sessionId] = true
        table.insert(ids, f.sessionId)
      end
    end
    cb(ids)
  end)
end

local QF_TITLE = "agent-bridge: pending changes"

-- In the quickfix window of :AgentPending: the entries on lines [line1, line2] (bang: their whole files).
local function quickfix_selection(opts, what, cb)
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
  cb(c, args, true)
end

-- The selection for apply/reject: hunks touching lines [line1, line2] (1-based), or the whole file (bang).
local function selection(bufnr, opts, what, cb)
  if vim.bo[bufnr].buftype == "quickfix" then
    return quickfix_selection(opts, what, cb)
  end
  local c, uri = M.target(bufnr)
  if not c then
    return
  end
  if opts.bang then
    return M.sessions_with_changes(c, uri, function(ids)
      if #ids == 0 then
        return client_mod.notify("no pending agent changes in this file", vim.log.levels.WARN)
      end
      cb(c, vim.tbl_map(function(id)
        return { sessionId = id, uri = uri }
      end, ids))
    end)
  end
  local line1 = (opts.line1 or vim.fn.line(".")) - 1
  local line2 = (opts.line2 or vim.fn.line(".")) - 1
  local args = {}
  for _, h in ipairs(M.hunks(bufnr)) do
    if h.lnum <= line2 and h.last >= line1 then
      table.insert(args, { sessionId = h.session_id, uri = uri, hunkId = h.hunk_id })
    end
  end
  if #args == 0 then
    return client_mod.notify("no agent change under the cursor to " .. what .. " (:AgentPending lists them)",
      vim.log.levels.WARN)
  end
  cb(c, args)
end

--- :AgentApply — the hunk(s) under the cursor or in the range; `bang`: the whole file.
---@param opts? { bang?: boolean, line1?: integer, line2?: integer, bufnr?: integer, on_done?: fun(applied: integer) }
function M.apply(opts)
  opts = opts or {}
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  selection(bufnr, opts, "apply", function(c, args, from_list)
    chain(c, "agentBridge.apply", args, function(results, errors)
      if from_list then
        M.pending({ open = false })
      end
      local applied, conflicts = 0, {}
      for _, r in ipairs(results) do
        applied = applied + (r.applied or 0)
        for _, conflict in ipairs(r.conflicts or {}) do
          table.insert(conflicts, conflict.reason or vim.inspect(conflict))
        end
      end
      for _, e in ipairs(errors) do
        table.insert(conflicts, e)
      end
      if #conflicts > 0 then
        client_mod.notify("not applied: " .. table.concat(conflicts, "; "), vim.log.levels.WARN)
      end
      if opts.on_done then
        opts.on_done(applied)
      end
    end)
  end)
end

--- :AgentReject — the hunk(s) under the cursor or in the range; `bang`: the whole file.
function M.reject(opts)
  opts = opts or {}
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  selection(bufnr, opts, "reject", function(c, args, from_list)
    chain(c, "agentBridge.reject", args, function(results, errors)
      if from_list then
        M.pending({ open = false })
      end
      local rejected = 0
      for _, r in ipairs(results) do
        rejected = rejected + (r.rejected or 0)
      end
      if #errors > 0 then
        client_mod.notify("reject failed: " .. table.concat(errors, "; "), vim.log.levels.ERROR)
      elseif rejected > 0 then
        client_mod.notify(string.format("rejected %d agent change%s", rejected, rejected == 1 and "" or "s"))
      end
      if opts.on_done then
        opts.on_done(rejected)
      end
    end)
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
    local reason = type(hunk.conflictReason) == "string" and short_reason(hunk.conflictReason) or ""
    return "conflict" .. (reason ~= "" and (" (" .. reason .. ")") or "") .. ": " .. what
  end
  return what
end

local function current_line_of(uri, hunk)
  local buf = loaded_buf(uri)
  if buf then
    for _, h in ipairs(M.hunks(buf)) do
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
