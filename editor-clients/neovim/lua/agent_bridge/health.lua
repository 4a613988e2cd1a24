-- :checkhealth agent_bridge — Neovim, the bridge and its version, git, the agents, running bridges, and whether
-- agents can run sandboxed (bubblewrap) here.
local M = {}

local health = vim.health

local function run(cmd, opts)
  local ok, res = pcall(function()
    return vim.system(cmd, vim.tbl_extend("force", { text = true }, opts or {})):wait(opts and opts.timeout or 20000)
  end)
  if not ok then
    return nil, tostring(res)
  end
  if res.code ~= 0 then
    local out = vim.trim((res.stderr or "") .. (res.stdout or ""))
    return nil, out ~= "" and out or ("exit code " .. tostring(res.code))
  end
  return vim.trim(res.stdout or ""), nil
end

local function report_agents(list, from)
  local available = 0
  for _, a in ipairs(list) do
    if a.available then
      available = available + 1
      health.ok(string.format("agent %s (%s): %s%s", a.name, a.protocol or "?", a.detail or "available",
        a.default and " (default)" or ""))
    else
      health.info(string.format("agent %s (%s): not available: %s", a.name, a.protocol or "?", a.detail or "?"))
    end
  end
  if available == 0 then
    health.warn("no agent is available (" .. from .. ")", {
      "Install one (e.g. `npm i -g @qwen-code/qwen-code`) or configure one in .agent-bridge.toml or setup({ agents = ... })",
      "The built-in `scripted` agent needs nothing: setup({ default_agent = \"scripted\" }) to try the plugin",
    })
  end
end

-- `problem`: why no sandbox can be made here (nil: sandboxes work). An error only when an agent is set to run
-- sandboxed (it refuses to start); otherwise information.
local function report_sandbox(list, problem)
  health.start("agent-bridge: sandbox")
  local boxed = {}
  for _, a in ipairs(list) do
    if a.sandbox then
      table.insert(boxed, a.name)
    end
  end
  local which = #boxed > 0 and ("sandboxed agents: " .. table.concat(boxed, ", "))
    or "no agent is sandboxed (set sandbox = true to run agents in a bubblewrap sandbox)"
  if problem == nil or problem == vim.NIL then
    health.ok("sandboxing is available (bubblewrap); " .. which)
  elseif #boxed > 0 then
    health.error("sandboxing is not available, so " .. table.concat(boxed, ", ") .. " will refuse to start: " .. problem,
      { "Install bubblewrap and enable unprivileged user namespaces, or set sandbox = false for these agents" })
  else
    health.info("sandboxing is not available: " .. problem)
  end
end

function M.check()
  local config = require("agent_bridge.config")
  local client_mod = require("agent_bridge.client")

  health.start("agent-bridge: Neovim")
  local v = vim.version()
  local version = string.format("%d.%d.%d", v.major, v.minor, v.patch)
  if vim.fn.has("nvim-0.10") == 1 then
    health.ok("Neovim " .. version .. (vim.fn.has("nvim-0.11") == 1 and " (vim.lsp.config/vim.lsp.enable)" or ""))
  else
    health.error("Neovim " .. version .. ": the plugin needs 0.10 or newer")
  end
  if not package.loaded["agent_bridge"] or not require("agent_bridge").did_setup then
    health.warn("setup() has not been called", { 'Add require("agent_bridge").setup({}) to your config' })
  end

  health.start("agent-bridge: the bridge")
  local cmd = config.options.cmd
  if type(cmd) ~= "table" or not cmd[1] then
    health.info("cmd is a function; cannot check it here")
  elseif vim.fn.executable(cmd[1]) == 0 then
    health.error(cmd[1] .. " not found on PATH", {
      "Install it: pip install -e /path/to/agent-bridge",
      "Or point setup({ cmd = { '/path/to/agent-bridge', 'serve' } }) at it",
    })
  else
    local out, err = run({ cmd[1], "--version" }, { timeout = 15000 })
    if out and out:match("^agent%-bridge ") then
      health.ok(out .. " (" .. vim.fn.exepath(cmd[1]) .. ")")
    else
      health.error("`" .. cmd[1] .. " --version` failed: " .. (err or out or "?"))
    end
  end

  health.start("agent-bridge: git")
  if vim.fn.executable("git") == 0 then
    health.error("git not found on PATH: the bridge keeps every session in a git worktree")
  else
    local out, err = run({ "git", "--version" })
    if out then
      health.ok(out)
    else
      health.error("git --version failed: " .. tostring(err))
    end
    local root = vim.fs.root(0, config.options.root_markers) or vim.fs.root(vim.fn.getcwd(), config.options.root_markers)
    if root then
      health.ok("workspace: " .. root)
    else
      health.info("the current file/directory is not inside a git repository: the bridge starts for files that are")
    end
  end

  health.start("agent-bridge: agents")
  local clients = client_mod.clients()
  if #clients > 0 then
    for _, c in ipairs(clients) do
      health.ok(string.format("bridge running for %s (client id %d)", c.root_dir or "?", c.id))
    end
    local list, err = client_mod.exec_sync(clients[1], "agentBridge.agents", {}, 10000)
    if list then
      report_agents(list, "agentBridge.agents")
      report_sandbox(list, list[1] and list[1].sandboxProblem)
    else
      health.error("agentBridge.agents failed: " .. tostring(err))
    end
  elseif type(cmd) == "table" and cmd[1] and vim.fn.executable(cmd[1]) == 1 then
    health.info("no bridge running yet (open a file inside a git repository); asking `" .. cmd[1] .. " agents`")
    local out, err = run({ cmd[1], "agents", "--json" }, { cwd = vim.fn.getcwd(), timeout = 60000 })
    local ok, decoded = pcall(vim.json.decode, out or "")
    if ok and type(decoded) == "table" then
      local list = {}
      for _, a in ipairs(decoded.agents or {}) do
        table.insert(list, {
          name = a.name,
          protocol = a.protocol,
          available = a.installed,
          detail = a.installed and (a.path or "") or "not installed",
          default = a.default,
          sandbox = a.sandbox,
        })
      end
      report_agents(list, cmd[1] .. " agents")
      if type(decoded.sandbox) == "table" then
        report_sandbox(list, decoded.sandbox.problem)
      end
      for _, w in ipairs(decoded.warnings or {}) do
        health.warn("configuration: " .. w)
      end
    else
      health.error("`" .. cmd[1] .. " agents --json` failed: " .. tostring(err or out))
    end
  end
end

return M
