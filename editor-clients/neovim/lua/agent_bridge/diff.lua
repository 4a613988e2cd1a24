-- :AgentDiff: the agent's version of a file (from agentBridge.diff) beside the buffer, both in diff mode.
local client_mod = require("agent_bridge.client")
local lines_of = require("agent_bridge.preview").lines_of
local review = require("agent_bridge.review")

local M = {}

local function close_diff(src_win, scratch)
  if vim.api.nvim_win_is_valid(src_win) then
    vim.api.nvim_win_call(src_win, function()
      vim.cmd("diffoff")
    end)
  end
  if vim.api.nvim_buf_is_valid(scratch) then
    pcall(vim.api.nvim_buf_delete, scratch, { force = true })
  end
end

local function show_diff(bufnr, session_id, uri, res)
  if res.binary then
    return client_mod.notify("binary file: no text diff", vim.log.levels.WARN)
  end
  local lines = lines_of(res.agentText)
  local src_win = vim.fn.bufwinid(bufnr)
  if src_win == -1 then
    src_win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(src_win, bufnr)
  end
  vim.api.nvim_set_current_win(src_win)
  local name = string.format("agent-bridge://diff/%s/%s", session_id:sub(1, 8),
    vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":."))
  local old = vim.fn.bufnr(name)
  if old > 0 then
    pcall(vim.api.nvim_buf_delete, old, { force = true })
  end
  local scratch = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(scratch, name)
  vim.api.nvim_buf_set_lines(scratch, 0, -1, false, lines)
  vim.bo[scratch].buftype = "nofile"
  vim.bo[scratch].bufhidden = "wipe"
  vim.bo[scratch].modifiable = false
  vim.bo[scratch].filetype = vim.bo[bufnr].filetype
  vim.b[scratch].agent_bridge_session = session_id
  -- :AgentApply / :AgentReject in this window act on the hunk under the cursor (M.selection).
  vim.b[scratch].agent_bridge_diff = { uri = uri, source = bufnr }
  vim.cmd("diffthis")
  vim.cmd("rightbelow vsplit")
  local win = vim.api.nvim_get_current_win()
  vim.api.nvim_win_set_buf(win, scratch)
  vim.cmd("diffthis")
  vim.keymap.set("n", "q", function()
    close_diff(src_win, scratch)
  end, { buffer = scratch, desc = "Close the agent diff" })
  vim.api.nvim_create_autocmd("BufWipeout", {
    buffer = scratch,
    once = true,
    callback = function()
      vim.schedule(function()
        if vim.api.nvim_win_is_valid(src_win) then
          vim.api.nvim_win_call(src_win, function()
            vim.cmd("diffoff")
          end)
        end
      end)
    end,
  })
  vim.api.nvim_set_current_win(src_win)
  return win
end

-- The agent's version again (after a reject changed it); the diff closes when nothing is pending any more.
local function reload(c, scratch)
  local d = vim.b[scratch].agent_bridge_diff
  local sid = vim.b[scratch].agent_bridge_session
  client_mod.exec(c, "agentBridge.diff", { sessionId = sid, uri = d.uri }, function(err, res)
    if not vim.api.nvim_buf_is_valid(scratch) then
      return
    end
    if err or res.binary then
      return close_diff(vim.fn.bufwinid(d.source), scratch)
    end
    vim.bo[scratch].modifiable = true
    vim.api.nvim_buf_set_lines(scratch, 0, -1, false, lines_of(res.agentText))
    vim.bo[scratch].modifiable = false
    vim.cmd("diffupdate")
  end)
end

local function count_lines(text)
  if type(text) ~= "string" or text == "" then
    return 0
  end
  local _, breaks = text:gsub("\n", "")
  return breaks + (text:sub(-1) == "\n" and 0 or 1)
end

--- In the agent's window of a diff: the hunks whose lines there touch [line1, line2] (1-based), as apply/reject
--- arguments for `cb(client, args, after)`. A hunk's lines in the agent's version start where its base lines
--- do, moved by what the hunks above it added or removed.
function M.selection(scratch, opts, what, cb)
  local d = vim.b[scratch].agent_bridge_diff
  local sid = vim.b[scratch].agent_bridge_session
  local c = client_mod.for_buffer(d.source)
  if not c then
    return client_mod.notify("no agent-bridge for this diff", vim.log.levels.WARN)
  end
  local line1 = (opts.line1 or vim.fn.line(".")) - 1
  local line2 = (opts.line2 or vim.fn.line(".")) - 1
  client_mod.exec(c, "agentBridge.pending", { sessionId = sid, uri = d.uri }, function(err, res)
    if err then
      return client_mod.notify(err, vim.log.levels.ERROR)
    end
    local hunks = vim.tbl_get(res or {}, 1, "hunks") or {}
    table.sort(hunks, function(a, b)
      return a.range.start.line < b.range.start.line
    end)
    local args, moved = {}, 0
    for _, h in ipairs(hunks) do
      local old, new = count_lines(h.oldText), count_lines(h.newText)
      local first = h.range.start.line + moved
      local last = first + math.max(new, 1) - 1
      if opts.bang or (first <= line2 and last >= line1) then
        table.insert(args, { sessionId = sid, uri = d.uri, hunkId = h.hunkId })
      end
      moved = moved + new - old
    end
    if #args == 0 then
      return client_mod.notify("no agent change under the cursor to " .. what, vim.log.levels.WARN)
    end
    cb(c, args, function()
      reload(c, scratch)
    end)
  end)
end

--- :AgentDiff — the agent's version of this file beside it, in diff mode.
function M.diff(opts)
  opts = opts or {}
  local bufnr = vim.api.nvim_get_current_buf()
  local c, uri = review.target(bufnr)
  if not c then
    return
  end
  review.sessions_with_changes(c, uri, function(ids)
    if #ids == 0 then
      return client_mod.notify("no pending agent changes in this file", vim.log.levels.WARN)
    end
    local function open(session_id)
      client_mod.exec(c, "agentBridge.diff", { sessionId = session_id, uri = uri }, function(err, res)
        if err then
          return client_mod.notify(err, vim.log.levels.ERROR)
        end
        local win = show_diff(bufnr, session_id, uri, res)
        if opts.on_done then
          opts.on_done(win)
        end
      end)
    end
    if #ids == 1 then
      return open(ids[1])
    end
    local sessions = require("agent_bridge.sessions")
    vim.ui.select(ids, {
      prompt = "Diff against which session?",
      format_item = function(id)
        local s = sessions.get(id)
        return id:sub(1, 8) .. (s and s.title and ("  " .. s.title) or "")
      end,
    }, function(id)
      if id then
        open(id)
      end
    end)
  end)
end

return M
