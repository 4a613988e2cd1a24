-- The LSP side: the client configuration, starting/attaching the bridge, and executeCommand helpers.
-- Neovim 0.11+: registered with vim.lsp.config/vim.lsp.enable (the runtime file lsp/agent_bridge.lua returns
-- `lsp_config()`, so `vim.lsp.config("agent_bridge", {...})` in a user's config overrides any field).
-- Neovim 0.10: started with vim.lsp.start from autocommands.
local config = require("agent_bridge.config")

local M = {}

M.name = "agent_bridge"
local has_011 = vim.fn.has("nvim-0.11") == 1

---@param msg string
---@param level? integer
function M.notify(msg, level)
  vim.notify("agent-bridge: " .. msg, level or vim.log.levels.INFO, { title = "agent-bridge" })
end

-- Where a buffer's workspace is: the nearest directory with a root marker (a git repository by default).
---@param bufnr integer
---@return string|nil
function M.root_of(bufnr)
  if not vim.api.nvim_buf_is_valid(bufnr) or vim.bo[bufnr].buftype ~= "" then
    return nil
  end
  local name = vim.api.nvim_buf_get_name(bufnr)
  if name == "" or name:match("^%a[%w+.-]*://") then
    return nil
  end
  return vim.fs.root(bufnr, config.options.root_markers)
end

local function init_options()
  local o = config.options
  local init = {}
  if next(o.agents) then
    init.agents = o.agents
  end
  if o.default_agent then
    init.defaultAgent = o.default_agent
  end
  if o.sandbox ~= nil then
    init.sandbox = o.sandbox
  end
  if next(o.settings) then
    init.settings = o.settings
  end
  return next(init) and init or vim.empty_dict()
end

local function handlers()
  return {
    ["agentBridge/event"] = function(_, result, ctx)
      if result then
        require("agent_bridge.sessions").on_event(result, ctx.client_id)
      end
    end,
    ["window/showMessageRequest"] = function(err, params, ctx)
      return require("agent_bridge.permissions").ask(err, params, ctx)
    end,
    ["workspace/applyEdit"] = function(err, params, ctx)
      -- Each applied agent change is its own undo step, so `u` takes back exactly that change.
      require("agent_bridge.review").break_undo_for(params and params.edit)
      return vim.lsp.handlers["workspace/applyEdit"](err, params, ctx)
    end,
  }
end

--- The LSP client configuration (usable with vim.lsp.config, vim.lsp.start).
function M.lsp_config()
  local o = config.options
  local capabilities = vim.tbl_deep_extend("force", vim.lsp.protocol.make_client_capabilities(), {
    -- Neovim applies documentChanges (versioned edits, created/renamed/deleted files) but does not say so.
    workspace = { workspaceEdit = { documentChanges = true } },
    -- We draw agentBridge/event ourselves (chat, statusline); without this the server sends none and shows
    -- the agent's answer with window/showMessage instead, as for any LSP client.
    experimental = { agentBridge = { events = true } },
  })
  local cfg = {
    name = M.name,
    cmd = o.cmd,
    cmd_env = o.cmd_env,
    filetypes = o.filetypes,
    init_options = init_options(),
    capabilities = capabilities,
    handlers = handlers(),
  }
  if has_011 then
    -- Attach only inside a workspace; a function so that files outside any repository are left alone.
    cfg.root_dir = function(bufnr, on_dir)
      local root = M.root_of(bufnr)
      if root then
        on_dir(root)
      end
    end
  end
  return vim.tbl_deep_extend("force", cfg, o.lsp or {})
end

-- The configuration to start with: on 0.11 the resolved vim.lsp.config (user overrides included).
local function resolved_config()
  if has_011 and vim.lsp.config[M.name] then
    return vim.deepcopy(vim.lsp.config[M.name])
  end
  return M.lsp_config()
end

--- Starts the bridge for `bufnr`'s workspace (or reuses the running one) and attaches the buffer.
---@param bufnr integer
---@return integer|nil client id
function M.attach(bufnr)
  local root = M.root_of(bufnr)
  if not root then
    return nil
  end
  local cfg = resolved_config()
  if cfg.filetypes and not vim.tbl_contains(cfg.filetypes, vim.bo[bufnr].filetype) then
    return nil
  end
  cfg.root_dir = root
  cfg.root_markers = nil
  local cmd = type(cfg.cmd) == "table" and cfg.cmd[1] or nil
  if cmd and vim.fn.executable(cmd) == 0 then
    if not M._warned_missing then
      M._warned_missing = true
      M.notify(cmd .. " is not executable; see :checkhealth agent_bridge", vim.log.levels.WARN)
    end
    return nil
  end
  return vim.lsp.start(cfg, { bufnr = bufnr })
end

function M.enable()
  local group = vim.api.nvim_create_augroup("agent_bridge.attach", { clear = true })
  if has_011 then
    vim.lsp.config(M.name, {}) -- drops a configuration resolved before setup() changed the options
    vim.lsp.enable(M.name)
    -- vim.lsp.enable starts clients on FileType; files without a filetype are attached here.
    vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
      group = group,
      callback = function(args)
        vim.schedule(function()
          if vim.api.nvim_buf_is_valid(args.buf) and vim.bo[args.buf].filetype == "" then
            M.attach(args.buf)
          end
        end)
      end,
    })
    for _, buf in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].filetype == "" then
        M.attach(buf)
      end
    end
  else
    vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile", "FileType" }, {
      group = group,
      callback = function(args)
        M.attach(args.buf)
      end,
    })
    for _, buf in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(buf) then
        M.attach(buf)
      end
    end
  end
end

--- Calls `cb(client)` with the bridge of `bufnr` once it is initialized: at once when it is, else when it
--- attaches (a prompt written in the first seconds after opening a file waits for the bridge it starts), or
--- `cb(nil, why)` when no bridge is coming for the buffer or it did not come up within `timeout_ms`.
---@param bufnr integer
---@param cb fun(client: vim.lsp.Client|nil, why: string|nil)
---@param timeout_ms? integer
function M.when_ready(bufnr, cb, timeout_ms)
  local c = M.for_buffer(bufnr)
  if c and c.initialized then
    return cb(c, nil)
  end
  local o = config.options
  local coming = c ~= nil or (o.autostart and M.root_of(bufnr) ~= nil
    and (o.filetypes == nil or vim.tbl_contains(o.filetypes, vim.bo[bufnr].filetype)))
  if not coming then
    return cb(nil, "no agent-bridge running here: open a file inside a git repository first")
  end
  local done, autocmd = false, nil
  local function finish(client, why)
    if done then
      return
    end
    done = true
    pcall(vim.api.nvim_del_autocmd, autocmd)
    cb(client, why)
  end
  local function check()
    local ready = vim.api.nvim_buf_is_valid(bufnr) and M.for_buffer(bufnr) or nil
    if ready and ready.initialized then
      finish(ready, nil)
    end
  end
  -- LspAttach comes after the server answered `initialize`.
  autocmd = vim.api.nvim_create_autocmd("LspAttach", {
    callback = function(args)
      if M.by_id(args.data.client_id) then
        vim.schedule(check)
      end
    end,
  })
  vim.defer_fn(function()
    finish(nil, "the agent-bridge did not start in time (see :checkhealth agent_bridge)")
  end, timeout_ms or 30000)
  vim.schedule(check) -- it may have come up since
end

---@param filter? table
---@return vim.lsp.Client[]
function M.clients(filter)
  return vim.lsp.get_clients(vim.tbl_extend("force", { name = M.name }, filter or {}))
end

---@param id integer
function M.by_id(id)
  local c = vim.lsp.get_client_by_id(id)
  return (c and c.name == M.name) and c or nil
end

--- The bridge client for a buffer: the one attached to it, else the one whose workspace holds the buffer or
--- the current directory, else the only one running.
---@param bufnr? integer
---@return vim.lsp.Client|nil
function M.for_buffer(bufnr)
  bufnr = (bufnr == nil or bufnr == 0) and vim.api.nvim_get_current_buf() or bufnr
  local attached = M.clients({ bufnr = bufnr })[1]
  if attached then
    return attached
  end
  local sid = vim.b[bufnr].agent_bridge_session
  if sid then
    local s = require("agent_bridge.sessions").get(sid)
    local c = s and M.by_id(s.client_id)
    if c then
      return c
    end
  end
  local all = M.clients()
  local path = vim.api.nvim_buf_get_name(bufnr)
  path = path ~= "" and path or vim.fn.getcwd()
  for _, c in ipairs(all) do
    if c.root_dir and vim.startswith(vim.fs.normalize(path) .. "/", vim.fs.normalize(c.root_dir) .. "/") then
      return c
    end
  end
  return #all == 1 and all[1] or nil
end

local function params(command, arg)
  return { command = command, arguments = { (arg and next(arg)) and arg or vim.empty_dict() } }
end

--- workspace/executeCommand, asynchronously: `cb(err, result)`; err is a string.
---@param client vim.lsp.Client
---@param command string
---@param arg? table
---@param cb? fun(err: string|nil, result: any)
function M.exec(client, command, arg, cb)
  local function handler(err, result)
    if cb then
      cb(err and (err.message or vim.inspect(err)) or nil, result)
    elseif err then
      M.notify(command .. ": " .. (err.message or vim.inspect(err)), vim.log.levels.ERROR)
    end
  end
  local ok
  if has_011 then
    ok = client:request("workspace/executeCommand", params(command, arg), handler)
  else
    ok = client.request("workspace/executeCommand", params(command, arg), handler)
  end
  if not ok then
    handler({ message = "the bridge is not running" })
  end
end

--- workspace/executeCommand, waiting for the answer (for completion and health checks).
---@return any result, string|nil err
function M.exec_sync(client, command, arg, timeout_ms)
  local res, err
  if has_011 then
    res, err = client:request_sync("workspace/executeCommand", params(command, arg), timeout_ms or 2000)
  else
    res, err = client.request_sync("workspace/executeCommand", params(command, arg), timeout_ms or 2000)
  end
  if not res then
    return nil, tostring(err or "no answer")
  end
  if res.err then
    return nil, res.err.message or vim.inspect(res.err)
  end
  return res.result, nil
end

return M
