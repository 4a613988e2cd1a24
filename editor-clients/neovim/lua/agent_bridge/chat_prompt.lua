-- The chat's prompt buffer: a few lines under the chat window to write the session's next prompt in (as many
-- lines as it takes), sent with <C-s>, <CR> in Normal mode (keymaps.lua) or :w; <C-c> cancels the running
-- turn. `@` completes the workspace's files and `/` at the start the agent's slash commands, with <C-x><C-o>
-- ('omnifunc') or <C-x><C-u> ('completefunc').
local client_mod = require("agent_bridge.client")

local M = {}

M.HEIGHT = 5

---@type table<string, integer> session id -> its prompt buffer
M.bufs = {}

---@param buf integer
function M.send(buf)
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  local text = vim.trim(table.concat(lines, "\n"))
  if text == "" then
    return client_mod.notify("empty prompt", vim.log.levels.WARN)
  end
  local sid = vim.b[buf].agent_bridge_session
  require("agent_bridge.prompt").prompt({
    text = text,
    session = sid,
    bufnr = buf,
    on_queued = function(res)
      if not vim.api.nvim_buf_is_valid(buf) then
        return
      end
      -- Empty again for the next prompt (the chat shows this one); a new session (the old one was closed
      -- elsewhere) takes the buffer along.
      vim.api.nvim_buf_set_lines(buf, 0, -1, false, {})
      vim.bo[buf].modified = false
      if res.sessionId ~= sid then
        M.bufs[sid] = nil
        M.bufs[res.sessionId] = buf
        vim.b[buf].agent_bridge_session = res.sessionId
      end
    end,
  })
  vim.bo[buf].modified = false
end

---@param session agent_bridge.Session
---@return integer
function M.buffer(session)
  local buf = M.bufs[session.id]
  if buf and vim.api.nvim_buf_is_valid(buf) then
    return buf
  end
  buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, "agent-bridge://prompt/" .. session.id:sub(1, 8))
  vim.bo[buf].buftype = "acwrite" -- :w sends the prompt
  vim.bo[buf].bufhidden = "hide"
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = "agent_bridge_prompt"
  vim.bo[buf].syntax = "markdown"
  vim.bo[buf].omnifunc = "v:lua.require'agent_bridge.mentions'.omnifunc"
  vim.bo[buf].completefunc = "v:lua.require'agent_bridge.mentions'.omnifunc"
  vim.b[buf].agent_bridge_session = session.id
  vim.api.nvim_create_autocmd("BufWriteCmd", {
    buffer = buf,
    callback = function()
      M.send(buf)
    end,
  })
  require("agent_bridge.keymaps").prompt(buf)
  M.bufs[session.id] = buf
  return buf
end

--- Opens the session's prompt buffer in a window under `chat_win` (the current window stays current).
---@param chat_win integer
---@param session agent_bridge.Session
---@return integer win
function M.split_under(chat_win, session)
  local buf = M.buffer(session)
  local prev = vim.api.nvim_get_current_win()
  vim.api.nvim_set_current_win(chat_win)
  vim.cmd("belowright " .. M.HEIGHT .. "split")
  local win = vim.api.nvim_get_current_win()
  vim.api.nvim_set_current_win(prev)
  vim.api.nvim_win_set_buf(win, buf)
  vim.wo[win].winfixheight = true
  vim.wo[win].wrap = true
  vim.wo[win].number = false
  vim.wo[win].relativenumber = false
  vim.wo[win].signcolumn = "no"
  return win
end

--- Opens the session's prompt buffer under its chat window (the chat opens too) and starts Insert mode.
---@param session agent_bridge.Session
---@param opts? { insert?: boolean }
---@return integer win
function M.open(session, opts)
  opts = opts or {}
  local buf = M.buffer(session)
  local chat_window = require("agent_bridge.chat_window")
  local win = chat_window.find(chat_window.PROMPT_FT, buf)
  local chat_win = not win and require("agent_bridge.chat").open(session, { focus = true }) or nil
  -- A prompt window under another session's chat switched to this buffer with it.
  win = win or chat_window.find(chat_window.PROMPT_FT, buf)
  if not win and chat_win then
    win = M.split_under(chat_win, session)
  end
  vim.api.nvim_set_current_win(win)
  if opts.insert ~= false then
    vim.cmd("startinsert!")
  end
  return win
end

function M.forget(session_id)
  local buf = M.bufs[session_id]
  M.bufs[session_id] = nil
  if buf and vim.api.nvim_buf_is_valid(buf) then
    pcall(vim.api.nvim_buf_delete, buf, { force = true })
  end
end

return M
