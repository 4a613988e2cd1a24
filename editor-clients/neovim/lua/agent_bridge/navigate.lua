-- Moving from hunk to hunk across files: the next (or previous) pending hunk after the cursor in this file, else
-- the first (last) one of the next (previous) file with pending changes, in path order, wrapping around. Every
-- session of the buffer's bridge counts.
local client_mod = require("agent_bridge.client")
local review = require("agent_bridge.review")

local M = {}

---@class (exact) agent_bridge.PendingSpot
---@field path string   the file
---@field lines integer[]  0-based first lines of its hunks, sorted

-- Where each file's hunks start: the open document's live positions when the bridge has them, else the
-- base's (the file on disk).
---@return agent_bridge.PendingSpot[]
local function spots(res)
  local by_path, out = {}, {}
  for _, f in ipairs(res or {}) do
    local path = vim.fs.normalize(vim.uri_to_fname(f.uri))
    local spot = by_path[path]
    if not spot then
      spot = { path = path, lines = {} }
      by_path[path] = spot
      table.insert(out, spot)
    end
    for _, h in ipairs(f.hunks or {}) do
      local rng = type(h.liveRange) == "table" and h.liveRange or h.range
      table.insert(spot.lines, rng and rng.start and rng.start.line or 0)
    end
    if #spot.lines == 0 then
      table.insert(spot.lines, 0) -- a change of the whole file (binary, mode): its first line
    end
  end
  for _, spot in ipairs(out) do
    table.sort(spot.lines)
  end
  table.sort(out, function(a, b)
    return a.path < b.path
  end)
  return out
end

-- The window to open another file in: this one, unless it shows the chat, a prompt or a list.
local function file_window()
  if vim.bo.buftype == "" then
    return vim.api.nvim_get_current_win()
  end
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    if vim.bo[vim.api.nvim_win_get_buf(win)].buftype == "" then
      return win
    end
  end
  return vim.api.nvim_get_current_win()
end

local function jump(win, row)
  local buf = vim.api.nvim_win_get_buf(win)
  row = math.max(0, math.min(row, vim.api.nvim_buf_line_count(buf) - 1))
  vim.api.nvim_win_set_cursor(win, { row + 1, 0 })
  vim.api.nvim_win_call(win, function()
    vim.cmd("normal! zv") -- open folds at the hunk
  end)
end

---@param forward boolean
---@param opts? { on_done?: fun(path: string|nil, line: integer|nil) }
local function go(forward, opts)
  local finish = (opts or {}).on_done or function() end
  local win = file_window()
  local buf = vim.api.nvim_win_get_buf(win)
  local row = vim.api.nvim_win_get_cursor(win)[1] - 1
  local here = vim.bo[buf].buftype == "" and vim.api.nvim_buf_get_name(buf) or ""
  -- In this file first: the diagnostics' positions follow the user's edits.
  local hunks = here ~= "" and review.hunks(buf) or {}
  for i = forward and 1 or #hunks, forward and #hunks or 1, forward and 1 or -1 do
    local h = hunks[i]
    if (forward and h.lnum > row) or (not forward and h.lnum < row) then
      jump(win, h.lnum)
      return finish(vim.fs.normalize(here), h.lnum + 1)
    end
  end
  local c = client_mod.for_buffer(buf)
  if not c then
    client_mod.notify("no agent-bridge for this buffer (is it inside a git repository?)", vim.log.levels.WARN)
    return finish(nil, nil)
  end
  client_mod.exec(c, "agentBridge.pending", {}, function(err, res)
    if err then
      client_mod.notify(err, vim.log.levels.ERROR)
      return finish(nil, nil)
    end
    local list = spots(res)
    if #list == 0 then
      client_mod.notify("no pending agent changes")
      return finish(nil, nil)
    end
    here = here ~= "" and vim.fs.normalize(here) or ""
    -- The next file after this one in path order (wrapping around; this file again when it is the only one).
    local target = forward and list[1] or list[#list]
    for i = forward and 1 or #list, forward and #list or 1, forward and 1 or -1 do
      local p = list[i].path
      if (forward and p > here) or (not forward and p < here) then
        target = list[i]
        break
      end
    end
    if not vim.api.nvim_win_is_valid(win) then
      win = vim.api.nvim_get_current_win()
    end
    vim.api.nvim_set_current_win(win)
    if vim.fs.normalize(vim.api.nvim_buf_get_name(vim.api.nvim_win_get_buf(win))) ~= target.path then
      vim.cmd.edit(vim.fn.fnameescape(target.path))
    end
    local line = forward and target.lines[1] or target.lines[#target.lines]
    jump(win, line)
    finish(target.path, vim.api.nvim_win_get_cursor(win)[1])
  end)
end

--- :AgentNext — the next pending hunk, in this file or the next one with pending changes.
function M.next(opts)
  go(true, opts)
end

--- :AgentPrev — the previous pending hunk, in this file or the previous one with pending changes.
function M.prev(opts)
  go(false, opts)
end

return M
