-- :AgentDiff: the agent's version of a file (from agentBridge.diff) beside the buffer, both in diff mode.
local client_mod = require("agent_bridge.client")
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

local function show_diff(bufnr, session_id, res)
  if res.binary then
    return client_mod.notify("binary file: no text diff", vim.log.levels.WARN)
  end
  local text = res.agentText ~= vim.NIL and res.agentText or ""
  local lines = vim.split(text, "\n", { plain = true })
  if lines[#lines] == "" then
    table.remove(lines)
  end
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
        local win = show_diff(bufnr, session_id, res)
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
