-- `@file` mentions and `/command`s in prompts: the workspace's files for completion (git ls-files, else a walk of
-- the directory; capped), the agent's slash commands, the completion functions (:AgentPrompt's command line, the
-- vim.ui.input prompt, the chat's prompt buffer as 'omnifunc'/'completefunc'), and the files a prompt mentions
-- as agentBridge.prompt attachments.
local M = {}

---@class (exact) agent_bridge.Attachment
---@field uri string
---@field range? lsp.Range        the lines sent (a selection); nil: the whole file

-- Files listed for completion: a bigger workspace completes the first ones git lists.
M.MAX_FILES = 10000
-- Candidates offered at once.
M.MAX_ITEMS = 200
-- How long a listing is reused (completion asks again on every key).
local TTL_MS = 5000

---@type table<string, { time: integer, files: string[] }>
local cache = {}

---@param root string
---@return string[]|nil
local function git_files(root)
  local ok, res = pcall(function()
    return vim.system({ "git", "-C", root, "ls-files", "--cached", "--others", "--exclude-standard", "-z" },
      { text = true }):wait(3000)
  end)
  if not ok or not res or res.code ~= 0 or not res.stdout then
    return nil
  end
  local files = {}
  for name in res.stdout:gmatch("[^%z]+") do
    table.insert(files, name)
    if #files >= M.MAX_FILES then
      break
    end
  end
  return files
end

---@param root string
---@return string[]
local function walked_files(root)
  local files = {}
  pcall(function() -- an unreadable directory ends the walk with what was found
    for name, kind in vim.fs.dir(root, {
      depth = 10,
      skip = function(dir)
        return not vim.startswith(vim.fs.basename(dir), ".")
      end,
    }) do
      if kind == "file" and not vim.startswith(vim.fs.basename(name), ".") then
        table.insert(files, name)
        if #files >= M.MAX_FILES then
          break
        end
      end
    end
  end)
  return files
end

--- The workspace's files, relative to `root` (tracked and untracked-but-not-ignored when it is a git checkout).
---@param root string
---@return string[]
function M.files(root)
  local hit = cache[root]
  local now = vim.uv.now()
  if hit and now - hit.time < TTL_MS then
    return hit.files
  end
  local files = git_files(root) or walked_files(root)
  cache[root] = { time = now, files = files }
  return files
end

--- Files matching what follows an `@`: a prefix of the path first, then a prefix of one of its directories or
--- its name (`@gre` finds `src/greet.py`); case-insensitive.
---@param files string[]
---@param lead string
---@return string[]
function M.match(files, lead)
  local low = lead:lower()
  local first, second = {}, {}
  for _, f in ipairs(files) do
    local lf = f:lower()
    if vim.startswith(lf, low) then
      table.insert(first, f)
    elseif low ~= "" and lf:find("/" .. low, 1, true) then
      table.insert(second, f)
    end
    if #first >= M.MAX_ITEMS then
      break
    end
  end
  vim.list_extend(first, second, 1, math.min(#second, M.MAX_ITEMS - #first))
  return first
end

--- The workspace root of a buffer's bridge (else the current directory).
---@param bufnr? integer
---@return string
function M.root(bufnr)
  local c = require("agent_bridge.client").for_buffer(bufnr)
  return c and c.root_dir or vim.fn.getcwd()
end

-- Attachments -------------------------------------------------------------------------------------------------

---@param path string
---@param root string
local function inside(path, root)
  local real = vim.uv.fs_realpath(path) or path
  local real_root = vim.uv.fs_realpath(root) or root
  return vim.startswith(real, real_root .. "/")
end

---@param path string
local function is_file(path)
  local stat = vim.uv.fs_stat(path)
  if stat then
    return stat.type == "file"
  end
  -- A new file only in a buffer so far: the bridge sends the buffer's text.
  local buf = vim.fn.bufnr(path)
  return buf ~= -1 and vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].buftype == ""
end

--- The file an `@word` names inside `root`, if any: relative to the root or absolute; punctuation that ends a
--- sentence ("see @greet.py.") is not part of the name unless a file is named so.
---@param word string
---@param root string
---@return string|nil
local function resolve(word, root)
  local candidates = { word }
  local trimmed = word:gsub("[%.,;:!%?%)%]}'\"`]+$", "")
  if trimmed ~= word and trimmed ~= "" then
    table.insert(candidates, trimmed)
  end
  for _, cand in ipairs(candidates) do
    local path = vim.startswith(cand, "/") and cand or vim.fs.joinpath(root, cand)
    path = vim.fs.normalize(path)
    if is_file(path) and inside(path, root) then
      return path
    end
  end
  return nil
end

--- The files a prompt mentions (`@path` at the start or after a space, naming a file of the workspace) as
--- attachments, in order, each once. Other `@words` (an agent's own syntax, a file outside the workspace) stay
--- text only; the text is sent as it is, mentions included.
---@param text string
---@param root string
---@return agent_bridge.Attachment[], string[] names the attached files, relative to the root
function M.attachments(text, root)
  local out, names, seen = {}, {}, {}
  for pos, word in text:gmatch("()@(%S+)") do
    local before = pos > 1 and text:sub(pos - 1, pos - 1) or " "
    if before:match("%s") then
      local path = resolve(word, root)
      if path and not seen[path] then
        seen[path] = true
        table.insert(out, { uri = vim.uri_from_fname(path) })
        local rel = vim.fs.normalize(root) .. "/"
        table.insert(names, vim.startswith(path, rel) and path:sub(#rel + 1) or path)
      end
    end
  end
  return out, names
end

-- Completion --------------------------------------------------------------------------------------------------

--- The slash commands of the session a buffer prompts (its chat's session, else the current one).
---@param bufnr? integer
---@param agent? string
---@return agent_bridge.SlashCommand[]
function M.commands(bufnr, agent)
  local buf = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local s = require("agent_bridge.prompt").session_for(vim.b[buf].agent_bridge_session, buf)
  if not s then
    return {}
  end
  return require("agent_bridge.steer").commands(s, agent)
end

--- Completion of one word of a prompt: `@` files, `/` commands (`slash`: where a command may stand).
---@param word string
---@param slash boolean
---@param bufnr? integer
---@param agent? string
---@return { word: string, menu: string, info: string }[]
function M.candidates(word, slash, bufnr, agent)
  local out = {}
  if vim.startswith(word, "@") then
    for _, f in ipairs(M.match(M.files(M.root(bufnr)), word:sub(2))) do
      table.insert(out, { word = "@" .. f, menu = "file", info = "" })
    end
  elseif slash and vim.startswith(word, "/") then
    for _, cmd in ipairs(M.commands(bufnr, agent)) do
      local name = "/" .. cmd.name
      if vim.startswith(name, word) then
        local desc = type(cmd.description) == "string" and cmd.description or ""
        local hint = type(cmd.input) == "table" and type(cmd.input.hint) == "string" and cmd.input.hint or nil
        table.insert(out, { word = name, menu = desc, info = desc .. (hint and ("\nInput: " .. hint) or "") })
      end
    end
  end
  return out
end

--- 'omnifunc' / 'completefunc' of the chat's prompt buffer: `@` completes files, `/` at the start of the prompt
--- the agent's slash commands.
---@param findstart integer
---@param base string
function M.omnifunc(findstart, base)
  if findstart == 1 then
    local row, col = unpack(vim.api.nvim_win_get_cursor(0))
    local before = vim.api.nvim_get_current_line():sub(1, col)
    local start = before:find("[@/]%S*$")
    if not start or (start > 1 and not before:sub(start - 1, start - 1):match("%s")) then
      return -3 -- nothing to complete here: leave completion quietly
    end
    if before:sub(start, start) == "/" and not (row == 1 and start == 1) then
      return -3
    end
    return start - 1
  end
  local row = vim.api.nvim_win_get_cursor(0)[1]
  local items = M.candidates(base, row == 1, 0)
  for _, item in ipairs(items) do
    item.dup = 0
  end
  return items
end

---@param items { word: string }[]
---@param prefix string
local function words(items, prefix)
  return vim.tbl_map(function(item)
    return prefix .. item.word
  end, items)
end

--- Completion of vim.ui.input's prompt (:AgentPrompt without text): the word under the cursor.
---@param lead string
function M.complete_input(lead)
  local prefix, word = lead:match("^(.-)(%S*)$")
  return words(M.candidates(word, vim.trim(prefix) == "", 0), prefix)
end

--- Completion of one argument of :AgentPrompt (`slash`: the first word of the prompt's text).
---@param lead string
---@param slash boolean
---@param agent? string           the prompt's --agent=
function M.complete_arg(lead, slash, agent)
  return words(M.candidates(lead, slash, 0, agent), "")
end

return M
