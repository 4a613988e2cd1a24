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
function M.short_reason(reason)
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
        summary = summary and M.short_reason(summary)
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
function M.loaded_buf(uri)
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
    local buf = M.loaded_buf(uri)
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
-- then `done(done, errors)`: each answered argument with its result, and the errors.
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
        table.insert(results, { arg = args[i], res = type(res) == "table" and res or {} })
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

-- The selection for apply/reject: hunks touching lines [line1, line2] (1-based), or the whole file (bang), or
-- the session (all); in the quickfix list its entries, in a diff's agent window the hunks there. `cb(client,
-- args, after?)`: `after` redraws the list or diff once done.
local function selection(bufnr, opts, what, cb)
  if opts.all then
    local s, c = require("agent_bridge.prompt").session_for(opts.session, bufnr)
    if not s or not c then
      return client_mod.notify("no agent session to " .. what, vim.log.levels.WARN)
    end
    return cb(c, { { sessionId = s.id } })
  end
  if vim.bo[bufnr].buftype == "quickfix" then
    return require("agent_bridge.quickfix").selection(opts, what, cb)
  end
  if vim.b[bufnr].agent_bridge_diff then
    return require("agent_bridge.diff").selection(bufnr, opts, what, cb)
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

---@class (exact) agent_bridge.ReviewOpts
---@field bang? boolean      the whole file
---@field all? boolean       the whole session
---@field session? string    with `all`: the session (default: the current one)
---@field line1? integer     the range (default: the cursor's line)
---@field line2? integer
---@field bufnr? integer
---@field on_done? fun(count: integer)  how many hunks were applied / rejected

--- :AgentApply — the hunk(s) under the cursor or in the range; `bang`: the whole file; `all`: the whole session
--- (`session`, default: the current one).
---@param opts? agent_bridge.ReviewOpts
function M.apply(opts)
  opts = opts or {}
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  selection(bufnr, opts, "apply", function(c, args, after)
    chain(c, "agentBridge.apply", args, function(done, errors)
      if after then
        after() -- a list or a diff view shows what is pending now
      end
      local applied = require("agent_bridge.bulk").report_apply(done, errors)
      if opts.on_done then
        opts.on_done(applied)
      end
    end)
  end)
end

--- :AgentReject — the hunk(s) under the cursor or in the range; `bang`: the whole file; `all`: the whole
--- session. :AgentUnreject takes it back.
---@param opts? agent_bridge.ReviewOpts
function M.reject(opts)
  opts = opts or {}
  local bufnr = opts.bufnr or vim.api.nvim_get_current_buf()
  selection(bufnr, opts, "reject", function(c, args, after)
    chain(c, "agentBridge.reject", args, function(done, errors)
      if after then
        after() -- a list or a diff view shows what is pending now
      end
      local rejected = require("agent_bridge.bulk").report_reject(c, done, errors)
      if opts.on_done then
        opts.on_done(rejected)
      end
    end)
  end)
end

--- :AgentPending — every pending hunk of the workspace's sessions in the quickfix list (quickfix.lua).
function M.pending(opts)
  require("agent_bridge.quickfix").pending(opts)
end

return M
