-- The chat window: one per tab, reused for every session (switching to another session, or `--new`, shows that
-- session's chat in the same window instead of splitting the old one narrower), with the session's prompt
-- window under it following along.
local config = require("agent_bridge.config")

local M = {}

M.CHAT_FT = "agent_bridge_chat"
M.PROMPT_FT = "agent_bridge_prompt"

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

--- The first window of the current tab showing a buffer of filetype `ft` (`buf`: that buffer only).
---@param ft string
---@param buf? integer
---@return integer|nil
function M.find(ft, buf)
  for _, win in ipairs(vim.api.nvim_tabpage_list_wins(0)) do
    local b = vim.api.nvim_win_get_buf(win)
    if (buf == nil or b == buf) and vim.bo[b].filetype == ft then
      return win
    end
  end
  return nil
end

--- Shows `buf` (a chat buffer) in the tab's chat window, opening one as `chat.position` says when the tab has
--- none. `focus`: leave the cursor there. Returns the window.
---@param buf integer
---@param opts? { focus?: boolean }
---@return integer
function M.show(buf, opts)
  opts = opts or {}
  local win = M.find(M.CHAT_FT, buf)
  if win then
    if opts.focus then
      vim.api.nvim_set_current_win(win)
    end
    return win
  end
  local prev = vim.api.nvim_get_current_win()
  win = M.find(M.CHAT_FT)
  if win then
    -- Another session's chat: this one takes its window (and its size).
    vim.api.nvim_win_set_buf(win, buf)
    M.follow_prompt(buf)
  else
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
    vim.api.nvim_win_set_buf(win, buf)
    local s = require("agent_bridge.sessions").get(vim.b[buf].agent_bridge_session or "")
    if s and config.options.chat.prompt_window then
      require("agent_bridge.chat_prompt").split_under(win, s)
    end
  end
  setup_window(win)
  pcall(vim.api.nvim_win_set_cursor, win, { vim.api.nvim_buf_line_count(buf), 0 })
  if opts.focus then
    vim.api.nvim_set_current_win(win)
  elseif vim.api.nvim_win_is_valid(prev) then
    vim.api.nvim_set_current_win(prev)
  end
  return win
end

--- Closes the tab's chat window and the prompt window under it (the last window of the tab stays).
function M.close()
  for _, ft in ipairs({ M.PROMPT_FT, M.CHAT_FT }) do
    local win = M.find(ft)
    if win and #vim.api.nvim_tabpage_list_wins(0) > 1 then
      pcall(vim.api.nvim_win_close, win, false)
    end
  end
end

-- A prompt window open for another session's chat switches to the prompt buffer of the session shown now.
function M.follow_prompt(chat_buf)
  local pwin = M.find(M.PROMPT_FT)
  local sid = vim.b[chat_buf].agent_bridge_session
  local s = pwin and sid and require("agent_bridge.sessions").get(sid)
  if s and vim.b[vim.api.nvim_win_get_buf(pwin)].agent_bridge_session ~= sid then
    vim.api.nvim_win_set_buf(pwin, require("agent_bridge.chat_prompt").buffer(s))
  end
end

return M
