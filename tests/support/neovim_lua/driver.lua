-- Test driver for tests/real/test_neovim_lsp.py: runs inside real headless Neovim 0.11 after the README's
-- configuration (init.lua, passed with -u) and plays a user: open a file, prompt the agent, apply the hunk
-- through a code action, undo. It writes everything it saw to the JSON file named by AB_NVIM_VERDICT and
-- quits; the pytest side makes the assertions.
--
-- Environment: AB_NVIM_VERDICT (output JSON path), AB_NVIM_FILE (file to open), AB_NVIM_SAY (text the
-- second turn says), AB_NVIM_AGENT_TEXT (the whole text the agent writes to that file), AB_NVIM_NEW_FILE /
-- AB_NVIM_NEW_FILE_TEXT (a file the agent creates, next to AB_NVIM_FILE).

local verdict_path = assert(os.getenv("AB_NVIM_VERDICT"), "AB_NVIM_VERDICT not set")
local target = assert(os.getenv("AB_NVIM_FILE"), "AB_NVIM_FILE not set")
local say = assert(os.getenv("AB_NVIM_SAY"), "AB_NVIM_SAY not set")
local agent_text = assert(os.getenv("AB_NVIM_AGENT_TEXT"), "AB_NVIM_AGENT_TEXT not set")
local new_file = assert(os.getenv("AB_NVIM_NEW_FILE"), "AB_NVIM_NEW_FILE not set")
local new_file_text = assert(os.getenv("AB_NVIM_NEW_FILE_TEXT"), "AB_NVIM_NEW_FILE_TEXT not set")

local TIMEOUT = 20000 -- ms for each wait; the pytest side kills the whole run after 60 s

local verdict = { ok = false, steps = {}, events = {}, kinds = {}, printed = {}, shown = {}, logged = {} }

local function step(msg)
  table.insert(verdict.steps, msg)
end

local function write_verdict()
  local f = assert(io.open(verdict_path, "w"))
  f:write(vim.json.encode(verdict))
  f:close()
end

vim.lsp.set_log_level("debug")

-- Headless Neovim would wait for keyboard input forever on window/showMessageRequest (the bridge asks
-- about commands; edits are allowed by policy): answer "dismissed" and record the question.
verdict.questions = {}
vim.ui.select = function(items, opts, on_choice)
  table.insert(verdict.questions, (opts and opts.prompt) or "?")
  on_choice(nil, nil)
end
vim.lsp.handlers["window/showMessageRequest"] = function(_, params)
  table.insert(verdict.questions, params and params.message or "?")
  return vim.NIL
end

-- The README's :AgentPrompt prints its result; keep a copy.
local orig_print = print
_G.print = function(...)
  local parts = {}
  for i = 1, select("#", ...) do
    parts[#parts + 1] = tostring(select(i, ...))
  end
  table.insert(verdict.printed, table.concat(parts, " "))
  orig_print(...)
end

-- The README's configuration declares no agentBridge.events capability, so the bridge sends no agentBridge/event
-- (recorded here to prove it) but what every LSP client shows: the answer as window/showMessage (Neovim's own
-- handler puts it through vim.notify) and the streamed text as window/logMessage.
vim.lsp.handlers["agentBridge/event"] = function(_, result)
  table.insert(verdict.events, result)
  verdict.kinds[result.kind] = true
end
for method, seen in pairs({ ["window/showMessage"] = verdict.shown, ["window/logMessage"] = verdict.logged }) do
  local builtin = vim.lsp.handlers[method]
  vim.lsp.handlers[method] = function(err, result, ctx, config)
    if result and vim.startswith(result.message, "scripted: ") then
      table.insert(seen, { type = result.type, message = result.message })
    end
    return builtin(err, result, ctx, config)
  end
end

-- The agent's answers shown so far (each "scripted: ..."), and its text logged after the first `from`.
local function streamed_since(from)
  local out = {}
  for i = from + 1, #verdict.logged do
    table.insert(out, (verdict.logged[i].message:gsub("^scripted: ", "")))
  end
  return table.concat(out, "\n")
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

local function agent_hints(buf)
  local out = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    if d.source == "agent-bridge" and d.severity == vim.diagnostic.severity.HINT then
      table.insert(out, d)
    end
  end
  return out
end

-- Pending hunks of the session (only those of `uri` when given): count, hunk ids, the raw answer.
local function pending(client, session, uri)
  local res, err = client:request_sync("workspace/executeCommand", {
    command = "agentBridge.pending",
    arguments = { { sessionId = session, uri = uri } },
  }, 5000)
  if not res then
    error("agentBridge.pending failed: " .. tostring(err))
  end
  if res.err then
    error("agentBridge.pending failed: " .. vim.inspect(res.err))
  end
  local hunks, ids = 0, {}
  for _, file in ipairs(res.result or {}) do
    hunks = hunks + #file.hunks
    for _, h in ipairs(file.hunks) do
      table.insert(ids, h.hunkId)
    end
  end
  return hunks, ids, res.result
end

local function main()
  vim.cmd.edit(vim.fn.fnameescape(target))
  local buf = vim.api.nvim_get_current_buf()
  local uri = vim.uri_from_bufnr(buf)
  verdict.filetype = vim.bo[buf].filetype
  verdict.before = buf_text(buf)

  local client
  wait("client attached", function()
    client = vim.lsp.get_clients({ bufnr = buf, name = "agent_bridge" })[1]
    return client ~= nil and client.initialized == true
  end)
  verdict.offset_encoding = client.offset_encoding
  verdict.root_dir = client.root_dir

  -- 1. The README's command, exactly as a user types it.
  vim.cmd("AgentPrompt @say hello")
  wait("first answer shown", function()
    return #verdict.shown >= 1
  end)
  verdict.first_turn = verdict.shown[1]
  verdict.first_streamed = streamed_since(0)
  local logged_before = #verdict.logged
  -- The session: from the reply the README's command printed.
  local session
  for _, line in ipairs(verdict.printed) do
    session = session or line:match('sessionId = "([%w_.-]+)"')
  end
  assert(session, "no sessionId in what :AgentPrompt printed")
  verdict.session = session

  -- 2. A multi-line prompt (:AgentPrompt takes one line) through the request the command wraps.
  local prompt = "@write "
    .. vim.fn.fnamemodify(target, ":t")
    .. "\n"
    .. agent_text
    .. "@end\n@write "
    .. new_file
    .. "\n"
    .. new_file_text
    .. "@end\n@say "
    .. say
    .. "\n"
  local prompt_res
  client:request("workspace/executeCommand", {
    command = "agentBridge.prompt",
    arguments = { { text = prompt, sessionId = session } },
  }, function(err, res)
    prompt_res = { err = err, result = res }
  end, buf)
  wait("prompt answered", function()
    return prompt_res ~= nil
  end)
  if prompt_res.err then
    error("agentBridge.prompt failed: " .. vim.inspect(prompt_res.err))
  end
  verdict.second_reply = prompt_res.result
  wait("second answer shown", function()
    return #verdict.shown >= 2
  end)
  verdict.second_turn = verdict.shown[2]
  verdict.streamed = streamed_since(logged_before)

  -- 3. Pending hunk shown as a hint diagnostic.
  wait("hint diagnostics", function()
    return #agent_hints(buf) > 0
  end)
  local hints = agent_hints(buf)
  verdict.diagnostics = #hints
  verdict.diagnostic = { lnum = hints[1].lnum, message = hints[1].message, code = hints[1].code }
  verdict.pending_before_apply = pending(client, session)
  local _, ids_before = pending(client, session, uri)
  verdict.hunk_ids_before = ids_before

  local lenses = vim.lsp.buf_request_sync(buf, "textDocument/codeLens", {
    textDocument = { uri = uri },
  }, 5000)
  verdict.lenses = {}
  for _, r in pairs(lenses or {}) do
    for _, lens in ipairs(r.result or {}) do
      table.insert(verdict.lenses, lens.command and lens.command.title or "(unresolved)")
    end
  end

  -- 4. Code actions on the hinted line; apply "Apply agent change" like vim.lsp.buf.code_action() does.
  local line = hints[1].lnum
  local results = vim.lsp.buf_request_sync(buf, "textDocument/codeAction", {
    textDocument = { uri = uri },
    range = { start = { line = line, character = 0 }, ["end"] = { line = line, character = 0 } },
    context = { diagnostics = vim.lsp.diagnostic.from(hints) },
  }, 5000)
  verdict.actions = {}
  local apply
  for _, r in pairs(results or {}) do
    if r.err then
      error("codeAction failed: " .. vim.inspect(r.err))
    end
    for _, action in ipairs(r.result or {}) do
      table.insert(verdict.actions, action.title)
      if apply == nil and action.title:find("^Apply agent change") then
        apply = action
      end
    end
  end
  if apply == nil then
    error("no 'Apply agent change' action among " .. vim.inspect(verdict.actions))
  end
  verdict.apply_title = apply.title
  verdict.apply_edit_shape = apply.edit and (apply.edit.documentChanges and "documentChanges" or "changes")
  if apply.disabled then
    error("Apply action disabled: " .. vim.inspect(apply.disabled))
  end
  if not apply.edit then
    error("Apply action has no edit: " .. vim.inspect(apply))
  end
  -- A user runs the code action as its own command: start a new undo block, as typing would.
  vim.o.undolevels = vim.o.undolevels
  vim.lsp.util.apply_workspace_edit(apply.edit, client.offset_encoding)
  verdict.after = buf_text(buf)
  verdict.modified_after_apply = vim.bo[buf].modified
  step("applied")

  -- 5. The bridge sees the edit through didChange and re-baselines: the hunk stops being pending.
  local hunks_left
  local rebaselined = vim.wait(5000, function()
    hunks_left = pending(client, session, uri)
    return hunks_left == 0
  end, 100)
  verdict.pending_after_apply = hunks_left
  verdict.rebaselined = rebaselined
  vim.wait(2000, function()
    return #agent_hints(buf) == 0
  end, 50)
  verdict.diagnostics_after_apply = #agent_hints(buf)

  -- 6. `u` undoes the applied hunk like any edit.
  vim.api.nvim_buf_call(buf, function()
    vim.cmd("undo")
  end)
  verdict.after_undo = buf_text(buf)
  -- The document is back to its text before the apply: the bridge puts the hunk back (same id).
  local ids_after_undo
  vim.wait(5000, function()
    _, ids_after_undo = pending(client, session, uri)
    return #ids_after_undo > 0
  end, 100)
  verdict.hunk_ids_after_undo = ids_after_undo
  vim.wait(2000, function()
    return #agent_hints(buf) > 0
  end, 50)
  verdict.diagnostics_after_undo = #agent_hints(buf)

  -- 7. The file the agent created, applied the way the lenses do (agentBridge.apply for that uri): needs
  -- workspaceEdit.documentChanges, which the README's configuration announces.
  local dir = vim.fs.dirname(target)
  local new_path = vim.fs.joinpath(dir, new_file)
  local new_uri = vim.uri_from_fname(new_path)
  local res = client:request_sync("workspace/executeCommand", {
    command = "agentBridge.apply",
    arguments = { { sessionId = session, uri = new_uri } },
  }, 10000)
  if not res or res.err then
    error("agentBridge.apply failed: " .. vim.inspect(res))
  end
  verdict.create_apply = res.result
  local nbuf = vim.fn.bufnr(new_path)
  verdict.new_file_lines = nbuf > 0 and vim.api.nvim_buf_get_lines(nbuf, 0, -1, false) or vim.NIL
  verdict.new_file_on_disk = vim.uv.fs_stat(new_path) ~= nil
  verdict.pending_new_file_after_apply = pending(client, session, new_uri)

  verdict.ok = true
end

local ok, err = xpcall(main, debug.traceback)
if not ok then
  verdict.error = tostring(err)
end
write_verdict()
vim.cmd("qa!")
