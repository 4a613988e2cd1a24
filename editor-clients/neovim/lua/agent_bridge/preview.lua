-- The inline preview of pending hunks, as gitsigns' preview_hunk_inline draws one: the lines a hunk removes
-- highlighted where they are, the lines it adds as virtual lines under them (above the next line for a pure
-- insertion). Toggled per buffer (:AgentPreview; `review.preview` in setup() turns it on for every buffer),
-- redrawn when the bridge reports pending changes (pendingChanged) and when its hint diagnostics move.
local client_mod = require("agent_bridge.client")
local config = require("agent_bridge.config")

local M = {}

M.ns = vim.api.nvim_create_namespace("agent_bridge_preview")

local function set_hl()
  vim.api.nvim_set_hl(0, "AgentBridgePreviewDelete", { link = "DiffDelete", default = true })
  vim.api.nvim_set_hl(0, "AgentBridgePreviewAdd", { link = "DiffAdd", default = true })
end

--- Whether the buffer shows the preview (its own toggle, else the setup option).
---@param buf integer
---@return boolean
function M.enabled(buf)
  local own = vim.b[buf].agent_bridge_preview
  if own ~= nil then
    return own
  end
  return config.options.review.preview == true
end

--- A text's lines, as a buffer holds them: no last empty line after a final newline; none for no text.
---@param text string|nil
---@return string[]
function M.lines_of(text)
  if text == nil or text == vim.NIL or text == "" then
    return {}
  end
  local lines = vim.split(text, "\n", { plain = true })
  if lines[#lines] == "" then
    table.remove(lines)
  end
  return lines
end

-- A virtual line for an added line: tabs expanded (virtual text shows them raw), padded so that its colour
-- spans the window as a real line's would.
local function virt_line(text, width, tabstop)
  text = text:gsub("\r$", ""):gsub("\t", string.rep(" ", tabstop))
  local pad = math.max(0, width - vim.fn.strdisplaywidth(text))
  return { { text .. string.rep(" ", pad), "AgentBridgePreviewAdd" } }
end

--- Draws the preview of `files` (agentBridge.pending's answer for the buffer's file) into `buf`.
---@param buf integer
---@param files table[]
function M.draw(buf, files)
  vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  if not M.enabled(buf) then
    return
  end
  local count = vim.api.nvim_buf_line_count(buf)
  local width = vim.o.columns
  local tabstop = vim.bo[buf].tabstop
  for _, f in ipairs(files or {}) do
    for _, h in ipairs(f.hunks or {}) do
      local rng = type(h.liveRange) == "table" and h.liveRange or h.range
      local first = rng and rng.start and rng.start.line or 0
      local removed, added = M.lines_of(h.oldText), M.lines_of(h.newText)
      local last = math.min(first + #removed, count) - 1
      for row = first, last do
        vim.api.nvim_buf_set_extmark(buf, M.ns, row, 0, { line_hl_group = "AgentBridgePreviewDelete", priority = 30 })
      end
      if #added > 0 then
        local virt = vim.tbl_map(function(l)
          return virt_line(l, width, tabstop)
        end, added)
        if last >= first then -- under the removed lines
          vim.api.nvim_buf_set_extmark(buf, M.ns, last, 0, { virt_lines = virt })
        elseif first < count then -- a pure insertion: above the line it goes before
          vim.api.nvim_buf_set_extmark(buf, M.ns, first, 0, { virt_lines = virt, virt_lines_above = true })
        else -- appended after the last line
          vim.api.nvim_buf_set_extmark(buf, M.ns, count - 1, 0, { virt_lines = virt })
        end
      end
    end
  end
end

--- Fetches the buffer's pending hunks and redraws its preview (clears it when the preview is off).
---@param buf integer
---@param on_done? fun()
function M.refresh(buf, on_done)
  if not vim.api.nvim_buf_is_valid(buf) then
    return
  end
  local c = M.enabled(buf) and client_mod.clients({ bufnr = buf })[1] or nil
  if not c then
    vim.api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
    return on_done and on_done()
  end
  client_mod.exec(c, "agentBridge.pending", { uri = vim.uri_from_bufnr(buf) }, function(err, res)
    if not err and vim.api.nvim_buf_is_valid(buf) then
      M.draw(buf, res)
    end
    if on_done then
      on_done()
    end
  end)
end

local scheduled = {} -- buffers with a refresh on its way: a burst of events is one request

local function refresh_soon(buf)
  if scheduled[buf] or not M.enabled(buf) then
    return
  end
  scheduled[buf] = true
  vim.defer_fn(function()
    scheduled[buf] = nil
    M.refresh(buf)
  end, 30)
end

--- :AgentPreview — toggles the buffer's inline preview (`on`: true/false sets it).
---@param opts? { bufnr?: integer, on?: boolean, on_done?: fun(enabled: boolean) }
function M.toggle(opts)
  opts = opts or {}
  local buf = (opts.bufnr == nil or opts.bufnr == 0) and vim.api.nvim_get_current_buf() or opts.bufnr
  local on = opts.on
  if on == nil then
    on = not M.enabled(buf)
  end
  vim.b[buf].agent_bridge_preview = on
  M.refresh(buf, function()
    if opts.on_done then
      opts.on_done(on)
    end
  end)
end

function M.setup()
  set_hl()
  local group = vim.api.nvim_create_augroup("agent_bridge.preview", { clear = true })
  vim.api.nvim_create_autocmd("ColorScheme", { group = group, callback = set_hl })
  vim.api.nvim_create_autocmd("DiagnosticChanged", {
    group = group,
    callback = function(args)
      refresh_soon(args.buf)
    end,
  })
  vim.api.nvim_create_autocmd("User", {
    group = group,
    pattern = "AgentBridgeEvent",
    callback = function(args)
      if type(args.data) == "table" and args.data.kind == "pendingChanged" then
        for _, buf in ipairs(vim.api.nvim_list_bufs()) do
          if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].buftype == "" then
            refresh_soon(buf)
          end
        end
      end
    end,
  })
end

return M
