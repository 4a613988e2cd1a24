-- The chat buffer's plumbing: blocks of lines that are appended at the end, streamed into, or redrawn in place
-- (an extmark remembers where each block starts, so it stays put while others grow or shrink), line
-- highlights, following windows, and the folds of reasoning blocks.
--
-- A chat state is { buf, blocks = { {mark, count, fold, hl} }, tail = { kind, block } | nil, folds = cache }.
local config = require("agent_bridge.config")

local M = {}

local ns = vim.api.nvim_create_namespace("agent_bridge_chat")
local hl_ns = vim.api.nvim_create_namespace("agent_bridge_chat_hl")

function M.modify(chat, fn)
  local buf = chat.buf
  vim.bo[buf].modifiable = true
  fn(buf)
  vim.bo[buf].modifiable = false
  vim.bo[buf].modified = false
  chat.folds = nil
end

function M.line_count(buf)
  return vim.api.nvim_buf_line_count(buf)
end

-- Windows showing the buffer whose cursor sits on the last line, or on a closed fold that holds it (Neovim puts
-- the cursor on the first line of a closed fold: a reasoning block streamed with the cursor at its end): they
-- follow the output. A window whose cursor the user moved up (scrolled away from the end) stays put.
local function followers(buf)
  local out = {}
  if not config.options.chat.follow then
    return out
  end
  local last = M.line_count(buf)
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    local row = vim.api.nvim_win_get_cursor(win)[1]
    local at_end = row >= last or vim.api.nvim_win_call(win, function()
      return vim.fn.foldclosedend(row) >= last
    end)
    if at_end then
      table.insert(out, win)
    end
  end
  return out
end

local function follow(buf, wins)
  local last = M.line_count(buf)
  for _, win in ipairs(wins) do
    if vim.api.nvim_win_is_valid(win) then
      pcall(vim.api.nvim_win_set_cursor, win, { last, 0 })
    end
  end
end

function M.highlight(buf, row, count, group)
  if group then
    for r = row, row + count - 1 do
      vim.api.nvim_buf_set_extmark(buf, hl_ns, r, 0, { line_hl_group = group, priority = 50 })
    end
  end
end

local function clear_hl(buf, row, count)
  vim.api.nvim_buf_clear_namespace(buf, hl_ns, row, row + count)
end

-- Ends the streamed block at the end of the buffer: a reasoning block loses its trailing blank line.
local function close_tail(chat)
  local block = chat.tail and chat.tail.block
  chat.tail = nil
  if not block or block.count <= 2 then
    return
  end
  local n = M.line_count(chat.buf)
  if vim.api.nvim_buf_get_lines(chat.buf, n - 1, n, false)[1]:match("^%s*$") then
    M.modify(chat, function(buf)
      vim.api.nvim_buf_set_lines(buf, n - 1, n, false, {})
    end)
    block.count = block.count - 1
  end
end

--- Appends a new block of `lines` at the end (after the last line) and returns it.
function M.append(chat, lines, opts)
  opts = opts or {}
  close_tail(chat)
  local block = { count = #lines, fold = opts.fold, hl = opts.hl }
  local wins = followers(chat.buf)
  M.modify(chat, function(buf)
    local n = M.line_count(buf)
    local empty = n == 1 and vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ""
    local row = empty and 0 or n
    vim.api.nvim_buf_set_lines(buf, row, empty and 1 or n, false, lines)
    block.mark = vim.api.nvim_buf_set_extmark(buf, ns, row, 0, {})
    M.highlight(buf, row, #lines, opts.hl)
  end)
  table.insert(chat.blocks, block)
  chat.tail = nil
  follow(chat.buf, wins)
  return block
end

function M.row(chat, block)
  return vim.api.nvim_buf_get_extmark_by_id(chat.buf, ns, block.mark, {})[1]
end

--- Redraws a block in place.
function M.replace(chat, block, lines, hl)
  local wins = followers(chat.buf)
  M.modify(chat, function(buf)
    local row = M.row(chat, block)
    clear_hl(buf, row, block.count)
    vim.api.nvim_buf_set_lines(buf, row, row + block.count, false, lines)
    vim.api.nvim_buf_set_extmark(buf, ns, row, 0, { id = block.mark })
    block.count = #lines
    block.hl = hl or block.hl
    M.highlight(buf, row, #lines, block.hl)
  end)
  follow(chat.buf, wins)
end

--- Streams `text` onto the end of the buffer as `kind` ("text" or "reasoning").
function M.stream(chat, kind, text)
  if text == nil or text == "" then
    return
  end
  local prefix = kind == "reasoning" and "  " or ""
  if not (chat.tail and chat.tail.kind == kind) then
    if kind == "reasoning" then
      local block = M.append(chat, { "▸ Thinking", prefix }, { fold = true, hl = "AgentBridgeChatReasoning" })
      chat.tail = { kind = kind, block = block }
    else
      M.append(chat, { "" })
      chat.tail = { kind = kind }
    end
  end
  local wins = followers(chat.buf)
  local pieces = vim.split(text, "\n", { plain = true })
  M.modify(chat, function(buf)
    local n = M.line_count(buf)
    local last = vim.api.nvim_buf_get_lines(buf, n - 1, n, false)[1]
    local lines = { last .. pieces[1] }
    for i = 2, #pieces do
      table.insert(lines, prefix .. pieces[i])
    end
    vim.api.nvim_buf_set_lines(buf, n - 1, n, false, lines)
    local block = chat.tail.block
    if block then
      block.count = block.count + #pieces - 1
      clear_hl(buf, n - 1, 1)
      M.highlight(buf, n - 1, #lines, block.hl)
    end
  end)
  follow(chat.buf, wins)
end

-- Folding: reasoning blocks are folds (closed unless 'foldlevel' says otherwise) -------------------------------

local function fold_rows(chat)
  local tick = vim.b[chat.buf].changedtick
  if chat.folds and chat.folds.tick == tick then
    return chat.folds.rows
  end
  local rows = {}
  for _, block in ipairs(chat.blocks) do
    if block.fold and block.count > 1 then
      local row = M.row(chat, block)
      if row then
        rows[row] = ">1"
        for r = row + 1, row + block.count - 1 do
          rows[r] = "1"
        end
      end
    end
  end
  chat.folds = { tick = tick, rows = rows }
  return rows
end

function M.foldexpr(lnum)
  local buf = vim.api.nvim_get_current_buf()
  local chat = require("agent_bridge.chat").chats[vim.b[buf].agent_bridge_session or ""]
  if not chat or chat.buf ~= buf then
    return "0"
  end
  return fold_rows(chat)[lnum - 1] or "0"
end

function M.foldtext()
  local first = vim.fn.getline(vim.v.foldstart)
  local body = vim.trim(vim.fn.getline(vim.v.foldstart + 1))
  local n = vim.v.foldend - vim.v.foldstart
  if #body > 60 then
    body = body:sub(1, 57) .. "..."
  end
  return string.format("%s (%d line%s): %s", first, n, n == 1 and "" or "s", body)
end

--- Empties the buffer and forgets its blocks (before the conversation is drawn again from the history).
function M.clear(chat)
  chat.blocks, chat.tail, chat.folds = {}, nil, nil
  M.modify(chat, function(buf)
    vim.api.nvim_buf_clear_namespace(buf, ns, 0, -1)
    vim.api.nvim_buf_clear_namespace(buf, hl_ns, 0, -1)
    vim.api.nvim_buf_set_lines(buf, 0, -1, false, {})
  end)
end

--- Inserts a new block of `lines` just above `before` (another block).
function M.insert_before(chat, before, lines, hl)
  local row = M.row(chat, before)
  local block = { count = #lines, hl = hl }
  M.modify(chat, function(buf)
    vim.api.nvim_buf_set_lines(buf, row, row, false, lines)
    block.mark = vim.api.nvim_buf_set_extmark(buf, ns, row, 0, {})
    M.highlight(buf, row, #lines, hl)
  end)
  table.insert(chat.blocks, block)
  return block
end

return M
