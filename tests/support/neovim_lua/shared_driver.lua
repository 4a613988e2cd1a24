-- Test driver for tests/real/test_neovim_shared.py: real headless Neovim attached to the bridge daemon beside
-- another editor. It opens a file, says it is ready, watches the turn the other editor prompts (events reach
-- every window of the workspace), applies the resulting hunk through its own code action, waits until the
-- bridge no longer lists it as pending, writes what it saw to AB_NVIM_VERDICT and quits.
--
-- Environment: AB_NVIM_VERDICT (output JSON), AB_NVIM_READY (file written once attached), AB_NVIM_FILE (file
-- to open), AB_NVIM_ROOT (workspace root), AB_NVIM_SERVE (the server command, JSON list).

local verdict_path = assert(os.getenv("AB_NVIM_VERDICT"), "AB_NVIM_VERDICT not set")
local ready_path = assert(os.getenv("AB_NVIM_READY"), "AB_NVIM_READY not set")
local target = assert(os.getenv("AB_NVIM_FILE"), "AB_NVIM_FILE not set")
local root = assert(os.getenv("AB_NVIM_ROOT"), "AB_NVIM_ROOT not set")
local serve_json = assert(os.getenv("AB_NVIM_SERVE"), "AB_NVIM_SERVE not set")
local serve = vim.json.decode(serve_json)

local TIMEOUT = 60000

local verdict = { ok = false, steps = {}, events = {} }

local function step(msg)
  table.insert(verdict.steps, msg)
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

local function wait(what, cond)
  if not vim.wait(TIMEOUT, cond, 20) then
    error("timed out waiting for " .. what)
  end
  step(what)
end

local function buf_text(buf)
  return table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n") .. "\n"
end

vim.lsp.handlers["agentBridge/event"] = function(_, result)
  table.insert(verdict.events, result)
end

local function pending_hunks(client, session)
  local res = client:request_sync("workspace/executeCommand", {
    command = "agentBridge.pending",
    arguments = { { sessionId = session } },
  }, 5000)
  if not res or res.err then
    error("agentBridge.pending failed: " .. vim.inspect(res and res.err))
  end
  local n = 0
  for _, file in ipairs(res.result or {}) do
    n = n + #file.hunks
  end
  return n
end

local function main()
  vim.cmd.edit(vim.fn.fnameescape(target))
  local buf = vim.api.nvim_get_current_buf()
  verdict.before = buf_text(buf)
  -- It records agentBridge/event itself, so it says so (a client that does not gets plain messages instead).
  local capabilities = vim.tbl_deep_extend("force", vim.lsp.protocol.make_client_capabilities(),
    { experimental = { agentBridge = { events = true } } })
  vim.lsp.start({ name = "agent_bridge", cmd = serve, root_dir = root, capabilities = capabilities }, { bufnr = buf })
  local client
  wait("client attached", function()
    client = vim.lsp.get_clients({ bufnr = buf, name = "agent_bridge" })[1]
    return client ~= nil and client.initialized == true
  end)
  write(ready_path, "ready\n")

  local ended
  wait("the other editor's turn ended here too", function()
    for _, ev in ipairs(verdict.events) do
      if ev.kind == "turnEnded" then
        ended = ev
        return true
      end
    end
    return false
  end)
  verdict.session = ended.sessionId
  verdict.turn = ended.turnId
  local streamed = {}
  for _, ev in ipairs(verdict.events) do
    if ev.kind == "text" and ev.turnId == ended.turnId then
      table.insert(streamed, ev.text)
    end
  end
  verdict.streamed = table.concat(streamed)

  local line
  wait("a hint on the pending hunk", function()
    for _, d in ipairs(vim.diagnostic.get(buf)) do
      if d.source == "agent-bridge" then
        line = d.lnum
        return true
      end
    end
    return false
  end)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(buf) },
    range = { start = { line = line, character = 0 }, ["end"] = { line = line, character = 0 } },
    context = { diagnostics = {} },
  }
  local answers = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", params, 10000) or {}
  local apply
  for _, answer in pairs(answers) do
    for _, action in ipairs(answer.result or {}) do
      if apply == nil and action.title:find("^Apply agent change") and action.edit then
        apply = action
      end
    end
  end
  assert(apply, "no Apply code action")
  verdict.action = apply.title
  vim.lsp.util.apply_workspace_edit(apply.edit, client.offset_encoding)
  verdict.after = buf_text(buf)
  wait("the bridge no longer lists the hunk as pending", function()
    return pending_hunks(client, ended.sessionId) == 0
  end)
  verdict.ok = true
end

local ok, err = pcall(main)
if not ok then
  verdict.error = tostring(err)
end
write(verdict_path, vim.json.encode(verdict))
vim.cmd("qa!")
