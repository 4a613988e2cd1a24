-- End-to-end test of the Neovim plugin, run by tests/real/test_neovim_plugin.py inside real headless Neovim after
-- the README's minimal configuration (passed with -u): the real `agent-bridge serve` and its scripted ACP agent.
-- It plays a user through setup → prompt → streamed chat → hunk signs → apply via code action → undo →
-- :AgentApply → undo → :AgentPending → :AgentDiff → :AgentReject → a permission question → cancel →
-- completion → steering the scripted agent (steering_real_test.lua: / commands, :AgentMode, :AgentModel, an
-- @file mention) → :AgentAgents → :AgentSessions (close) → living sessions (living_sessions_test.lua: history,
-- rewind, synced, conflicts) → steering (steering_test.lua: modes, models, / and @ completion, mentions as
-- attachments) → :checkhealth, and records a check per step in the JSON
-- file named by AB_TEST_VERDICT; the pytest side asserts on it.
--
-- Environment: AB_TEST_VERDICT (output path), AB_TEST_FILE (greet.py in a fresh git repository).

local verdict_path = assert(os.getenv("AB_TEST_VERDICT"), "AB_TEST_VERDICT not set")
local target = assert(os.getenv("AB_TEST_FILE"), "AB_TEST_FILE not set")

local here = vim.fs.dirname(debug.getinfo(1, "S").source:sub(2))
local helper = dofile(vim.fs.joinpath(here, "helper.lua"))
local t = helper.start(verdict_path)
local verdict, events, check, wait = t.verdict, t.events, t.check, t.wait
local last_ui, turn_end, choose_label, buf_text = t.last_ui, t.turn_end, helper.choose_label, helper.buf_text

local ORIGINAL = "def greet(name):\n    print('hello ' + name)\n\n\ndef farewell(name):\n    print('bye ' + name)\n"
local DOC_LINE = '    """Say hello to NAME."""'
local AGENT_TEXT = ORIGINAL:gsub("def greet%(name%):\n", "def greet(name):\n" .. DOC_LINE .. "\n", 1)

vim.lsp.set_log_level("debug")

local function main()
  local ab = require("agent_bridge")
  local review = require("agent_bridge.review")
  local chat = require("agent_bridge.chat")
  local sessions = require("agent_bridge.sessions")
  local client_mod = require("agent_bridge.client")

  check("setup ran", ab.did_setup)
  vim.cmd("filetype on")
  vim.cmd.edit(vim.fn.fnameescape(target))
  local buf = vim.api.nvim_get_current_buf()
  local uri = vim.uri_from_bufnr(buf)
  local win = vim.api.nvim_get_current_win()

  -- 1. The plugin starts the bridge for a file in a git repository.
  local client
  wait("client attached", function()
    client = client_mod.clients({ bufnr = buf })[1]
    return client ~= nil and client.initialized == true
  end)
  check("bridge attached to the buffer", client ~= nil)
  check("client advertises documentChanges", vim.tbl_get(client.capabilities, "workspace", "workspaceEdit",
    "documentChanges") == true)
  check("client declares that it draws the events", vim.tbl_get(client.capabilities, "experimental", "agentBridge",
    "events") == true)
  if vim.fn.has("nvim-0.11") == 1 then
    check("registered with vim.lsp.enable", vim.lsp.is_enabled("agent_bridge"))
  end
  check("statusline empty before any session", ab.statusline() == "", ab.statusline())

  -- 2. :AgentPrompt without text asks with vim.ui.input.
  t.answers.input = "@say hello from input"
  vim.cmd("AgentPrompt")
  local input = last_ui("input")
  check(":AgentPrompt asked with vim.ui.input", input and input.prompt and input.prompt:find("Prompt"), input)
  local session
  wait("first session", function()
    session = sessions.current(client.id)
    return session ~= nil and session.turn ~= nil
  end)
  local first_turn = session.turn.id
  wait("first turn ended", function()
    return turn_end(first_turn) ~= nil
  end)
  local c = chat.chats[session.id]
  check("chat buffer exists", c ~= nil and vim.api.nvim_buf_is_valid(c.buf))
  local chat_win = chat.window(session.id)
  check("chat window opened on prompt", chat_win ~= nil)
  check("focus stayed in the file", vim.api.nvim_get_current_win() == win)
  check("first turn completed", turn_end(first_turn).status == "completed", turn_end(first_turn))
  check("chat streamed the answer", buf_text(c.buf):find("hello from input", 1, true), buf_text(c.buf))
  wait("statusline shows the finished turn", function()
    return ab.statusline():find("completed", 1, true) ~= nil
  end)
  local line = ab.statusline()
  check("statusline names agent and session", line:find("scripted", 1, true) and line:find(session.id:sub(1, 8), 1,
    true), line)

  -- 3. A visual range sends the selection as context (the scripted agent echoes what it received).
  vim.cmd("1,2AgentPrompt @echo-prompt")
  local echo_turn
  wait("range prompt queued", function()
    echo_turn = session.turn and session.turn.id ~= first_turn and session.turn.id
    return echo_turn
  end)
  wait("range prompt ended", function()
    return turn_end(echo_turn) ~= nil
  end)
  local chat_text = buf_text(c.buf)
  check("selection sent as context", chat_text:find("print('hello ' + name)", 1, true)
    and chat_text:find("<resource uri=", 1, true), chat_text)
  check("chat names the selection", chat_text:find("> (with greet.py, lines 1-2)", 1, true), chat_text)

  -- 4. A multi-line prompt through the Lua API: reasoning, plan, an edit, a new file, usage, text.
  local prompt = table.concat({
    "@think pondering the greeting",
    "@plan Read greet.py | Add a docstring",
    "@write greet.py",
    (AGENT_TEXT:gsub("\n$", "")),
    "@end",
    "@write notes.txt",
    "hello notes",
    "@end",
    "@usage 120 45",
    "@say done with greet",
  }, "\n")
  local queued
  ab.prompt({ text = prompt, on_queued = function(res)
    queued = res
  end })
  wait("edit prompt queued", function()
    return queued ~= nil
  end)
  check("same session reused", queued.sessionId == session.id, queued)
  wait("edit turn ended", function()
    return turn_end(queued.turnId) ~= nil
  end)
  check("edit turn completed", turn_end(queued.turnId).status == "completed", turn_end(queued.turnId))
  -- The session's token totals arrive after the turn (agentBridge.sessions).
  wait("usage totals shown", function()
    return buf_text(c.buf):find("session 120 in · 45 out tokens", 1, true) ~= nil
  end)
  chat_text = buf_text(c.buf)
  verdict.chat = chat_text
  check("chat shows the text", chat_text:find("done with greet", 1, true), chat_text)
  check("chat shows the plan as a checklist", chat_text:find("- [-] Read greet.py", 1, true)
    and chat_text:find("- [ ] Add a docstring", 1, true), chat_text)
  check("chat shows the tool call with its status", chat_text:find("✓ Write greet.py  (edit, completed)", 1, true),
    chat_text)
  check("chat shows usage", chat_text:find("Usage: context 165/200000", 1, true), chat_text)
  check("chat shows the turn's end", chat_text:find("── completed · 2 pending changes in 2 files", 1, true), chat_text)
  -- Reasoning is folded (closed) in the chat window.
  local lines = vim.api.nvim_buf_get_lines(c.buf, 0, -1, false)
  local think_row
  for i, l in ipairs(lines) do
    if l == "  pondering the greeting" then
      think_row = i
    end
  end
  check("chat shows the reasoning", think_row ~= nil, lines)
  local closed, fold_text = -1, nil
  chat_win = chat.window(session.id)
  if think_row and chat_win then
    vim.api.nvim_win_call(chat_win, function()
      closed = vim.fn.foldclosed(think_row)
      fold_text = closed ~= -1 and vim.fn.foldtextresult(closed) or nil
    end)
  end
  check("folded reasoning summarized", fold_text == "▸ Thinking (1 line): pondering the greeting", fold_text)
  check("reasoning is folded", closed ~= -1 and lines[closed] == "▸ Thinking", { closed = closed })
  check("chat buffer is read-only", vim.bo[c.buf].modifiable == false)

  -- 5. The pending hunk shows as a sign with a label in the file's buffer.
  local marks
  wait("hunk signs", function()
    marks = vim.api.nvim_buf_get_extmarks(buf, review.ns, 0, -1, { details = true })
    return #marks > 0
  end)
  local hunks = review.hunks(buf)
  check("one hunk in greet.py", #hunks == 1, hunks)
  check("sign on the inserted line", #marks == 1 and marks[1][2] == 1 and vim.trim(marks[1][4].sign_text or "") == "┃",
    marks)
  check("hunk labelled with its agent", marks[1] and marks[1][4].virt_text
    and marks[1][4].virt_text[1][1]:find("scripted: add 1 line", 1, true), marks)
  local hunk_id = hunks[1] and hunks[1].hunk_id
  verdict.statusline_pending = ab.statusline()
  check("statusline counts pending hunks", ab.statusline():find("2 pending", 1, true), ab.statusline())

  -- 6. Apply through vim.lsp.buf.code_action(), as a user does; then `u`.
  vim.api.nvim_set_current_win(win)
  vim.api.nvim_win_set_cursor(win, { hunks[1].lnum + 1, 0 })
  local titles = {}
  vim.lsp.buf.code_action({
    filter = function(action)
      table.insert(titles, action.title)
      return action.title:find("^Apply agent change") ~= nil
    end,
    apply = true,
  })
  wait("code action applied", function()
    return buf_text(buf) == AGENT_TEXT
  end)
  check("code actions offered apply and reject", vim.iter(titles):any(function(t)
    return t:find("^Reject agent change") ~= nil
  end), titles)
  check("buffer has the agent's text", buf_text(buf) == AGENT_TEXT, buf_text(buf))
  check("file on disk untouched", table.concat(vim.fn.readfile(target), "\n") .. "\n" == ORIGINAL)
  wait("signs cleared after apply", function()
    return #vim.api.nvim_buf_get_extmarks(buf, review.ns, 0, -1, {}) == 0
  end)
  local pending_now = client_mod.exec_sync(client, "agentBridge.pending", { sessionId = session.id, uri = uri })
  check("bridge re-baselined after the code action", pending_now and #pending_now == 0, pending_now)

  vim.cmd("normal! u")
  check("undo restores the text", buf_text(buf) == ORIGINAL, buf_text(buf))
  wait("hunk pending again after undo", function()
    local h = review.hunks(buf)
    return #h == 1 and h[1].hunk_id == hunk_id
  end)
  check("signs back after undo", #vim.api.nvim_buf_get_extmarks(buf, review.ns, 0, -1, {}) == 1)

  -- 7. :AgentApply on the hunk under the cursor (workspace/applyEdit from the bridge), then `u`.
  -- The user typed something just before (same undo block so far): the apply must be an undo step of its own.
  local USER_LINE = "# a line of the user's"
  vim.api.nvim_buf_set_lines(buf, -1, -1, false, { USER_LINE })
  vim.api.nvim_win_set_cursor(win, { review.hunks(buf)[1].lnum + 1, 0 })
  vim.cmd("AgentApply")
  wait(":AgentApply applied", function()
    return buf_text(buf) == AGENT_TEXT .. USER_LINE .. "\n"
  end)
  wait("signs cleared after :AgentApply", function()
    return #vim.api.nvim_buf_get_extmarks(buf, review.ns, 0, -1, {}) == 0
  end)
  vim.cmd("normal! u")
  check(":AgentApply is one undo step", buf_text(buf) == ORIGINAL .. USER_LINE .. "\n", buf_text(buf))
  wait("hunk pending again after the second undo", function()
    return #review.hunks(buf) == 1
  end)
  vim.cmd("normal! u")
  check("the user's own change undoes separately", buf_text(buf) == ORIGINAL, buf_text(buf))
  wait("hunk still pending", function()
    return #review.hunks(buf) == 1
  end)

  -- 8. :AgentPending fills the quickfix list.
  vim.cmd("AgentPending")
  local qf
  wait("quickfix list", function()
    qf = vim.fn.getqflist({ title = 1, items = 1 })
    return qf.title == "agent-bridge: pending changes"
  end)
  local qf_texts = {}
  for _, item in ipairs(qf.items) do
    table.insert(qf_texts, { file = vim.fn.fnamemodify(vim.api.nvim_buf_get_name(item.bufnr), ":t"), lnum = item.lnum,
      text = item.text })
  end
  check("quickfix has the two pending changes", #qf.items == 2, qf_texts)
  check("quickfix points at the docstring line", vim.iter(qf_texts):any(function(i)
    return i.file == "greet.py" and i.lnum == 2 and i.text:find(DOC_LINE:gsub("^%s+", ""), 1, true)
  end), qf_texts)
  check("quickfix lists the new file", vim.iter(qf_texts):any(function(i)
    return i.file == "notes.txt" and i.text:find("new file", 1, true)
  end), qf_texts)
  -- In the list, :AgentApply applies the entry under the cursor: the new file lands in a buffer.
  local qf_win = vim.fn.getqflist({ winid = 1 }).winid
  check("quickfix window open", qf_win ~= 0)
  vim.api.nvim_set_current_win(qf_win)
  for i, item in ipairs(qf_texts) do
    if item.file == "notes.txt" then
      vim.api.nvim_win_set_cursor(qf_win, { i, 0 })
    end
  end
  vim.cmd("AgentApply")
  local notes = vim.fs.joinpath(vim.fs.dirname(target), "notes.txt")
  wait("new file applied from the quickfix list", function()
    local nbuf = vim.fn.bufnr(notes)
    return nbuf > 0 and vim.api.nvim_buf_get_lines(nbuf, 0, 1, false)[1] == "hello notes"
  end)
  check("new file only in a buffer", vim.uv.fs_stat(notes) == nil)
  wait("quickfix list refreshed", function()
    return #vim.fn.getqflist() == 1
  end)
  check("quickfix keeps the greet.py change", vim.fn.getqflist()[1].lnum == 2, vim.fn.getqflist())
  vim.cmd("cclose")
  vim.api.nvim_set_current_win(win)

  -- 9. :AgentDiff shows the agent's version beside the buffer, in diff mode.
  local diff_win
  ab.diff({ on_done = function(w)
    diff_win = w
  end })
  wait("diff window", function()
    return diff_win ~= nil
  end)
  local diff_buf = vim.api.nvim_win_get_buf(diff_win)
  check("diff shows the agent's version", buf_text(diff_buf) == AGENT_TEXT, buf_text(diff_buf))
  check("both windows in diff mode", vim.wo[diff_win].diff and vim.wo[win].diff)
  check("diff buffer named after the file", vim.api.nvim_buf_get_name(diff_buf):find("greet.py", 1, true))
  vim.api.nvim_set_current_win(diff_win)
  vim.cmd("normal q")
  wait("diff closed", function()
    return not vim.api.nvim_win_is_valid(diff_win) and not vim.wo[win].diff
  end)
  vim.api.nvim_set_current_win(win)

  -- 10. :AgentReject on the hunk under the cursor.
  vim.api.nvim_win_set_cursor(win, { review.hunks(buf)[1].lnum + 1, 0 })
  vim.cmd("AgentReject")
  wait("signs cleared after reject", function()
    return #vim.api.nvim_buf_get_extmarks(buf, review.ns, 0, -1, {}) == 0
  end)
  pending_now = client_mod.exec_sync(client, "agentBridge.pending", { sessionId = session.id, uri = uri })
  check("hunk rejected", pending_now and #pending_now == 0, pending_now)
  check("buffer untouched by reject", buf_text(buf) == ORIGINAL and not vim.bo[buf].modified)

  -- 11. A command the agent wants to run: the permission question comes through vim.ui.select.
  t.answers.select = choose_label("^Allow$")
  local run_res
  ab.prompt({ text = "@run echo permission-ok", on_queued = function(res)
    run_res = res
  end })
  wait("run prompt queued", function()
    return run_res ~= nil
  end)
  wait("run turn ended", function()
    return turn_end(run_res.turnId) ~= nil
  end)
  local question = last_ui("select")
  check("permission asked with vim.ui.select", question and question.prompt:find("wants to run: echo permission-ok", 1,
    true), question)
  check("permission offers allow/always/reject", question and vim.deep_equal(question.items,
    { "Allow", "Always allow", "Reject" }), question)
  check("run turn completed", turn_end(run_res.turnId).status == "completed", turn_end(run_res.turnId))
  chat_text = buf_text(c.buf)
  check("chat shows the permission answer", chat_text:find("? Permission: run: echo permission-ok — allowed", 1, true),
    chat_text)
  check("chat shows the command's tool call", chat_text:find("$ echo permission-ok", 1, true), chat_text)
  t.answers.select = nil

  -- 12. Cancel a turn that hangs.
  local hang_res
  ab.prompt({ text = "@say about to hang\n@hang", on_queued = function(res)
    hang_res = res
  end })
  -- Once the agent is working on it (its first words arrived), as a user would see.
  wait("hang turn running", function()
    if not (hang_res and session.turn and session.turn.id == hang_res.turnId and session.turn.status == "running") then
      return false
    end
    return vim.iter(events):any(function(ev)
      return ev.kind == "text" and ev.turnId == hang_res.turnId and ev.text:find("about to hang", 1, true) ~= nil
    end)
  end)
  check("statusline shows the running turn", ab.statusline():find("running", 1, true), ab.statusline())
  vim.cmd("AgentCancel")
  wait("hang turn ended", function()
    return turn_end(hang_res.turnId) ~= nil
  end)
  check("turn cancelled", turn_end(hang_res.turnId).status == "cancelled", turn_end(hang_res.turnId))
  wait("statusline shows the cancel", function()
    return ab.statusline():find("cancelled", 1, true) ~= nil
  end)
  check("chat shows the cancel", buf_text(c.buf):find("── cancelled", 1, true), buf_text(c.buf))

  -- 13. Completion.
  local agent_completion = vim.fn.getcompletion("AgentPrompt --agent=scr", "cmdline")
  check("agent names complete", vim.tbl_contains(agent_completion, "--agent=scripted"), agent_completion)
  local flag_completion = vim.fn.getcompletion("AgentPrompt --", "cmdline")
  check("prompt flags complete", vim.tbl_contains(flag_completion, "--new"), flag_completion)
  local session_completion = vim.fn.getcompletion("AgentCancel ", "cmdline")
  check("session ids complete", vim.tbl_contains(session_completion, session.id), session_completion)

  -- 13b. Steering the real agent: / commands, :AgentMode, :AgentModel, an @file mention.
  dofile(vim.fs.joinpath(here, "steering_real_test.lua"))(t, client, session)

  -- 14. :AgentAgents lists the agents and picks the one prompts go to.
  t.answers.select = choose_label("^scripted")
  local picked
  ab.agents(nil, { on_done = function(a)
    picked = a
  end })
  wait("agent picked", function()
    return picked ~= nil
  end)
  local agents_ui = last_ui("select")
  check(":AgentAgents lists scripted as available", vim.iter(agents_ui.items):any(function(l)
    return l:find("^scripted  %(acp%) available") ~= nil
  end), agents_ui)
  check(":AgentAgents lists the built-ins", #agents_ui.items >= 5, agents_ui)
  check("prompts go to the picked agent", sessions.agent == "scripted")

  -- 15. :AgentSessions: pick the session, close it.
  local picked_session = false
  t.answers.select = function(items, labels, opts)
    if opts.prompt == "Agent sessions" then
      return choose_label(session.id:sub(1, 8))(items, labels)
    end
    return choose_label("^Close")(items, labels)
  end
  local closed_id
  ab.sessions({ on_done = function(action, id)
    picked_session = action
    closed_id = id
  end })
  wait("session closed", function()
    return picked_session == "close"
  end)
  local sessions_ui
  for _, q in ipairs(verdict.ui) do
    if q.prompt == "Agent sessions" then
      sessions_ui = q
    end
  end
  check(":AgentSessions lists the session", sessions_ui and vim.iter(sessions_ui.items):any(function(l)
    return l:find(session.id:sub(1, 8), 1, true) and l:find("scripted:idle", 1, true)
  end), sessions_ui)
  check(":AgentSessions offers a new session", sessions_ui and sessions_ui.items[#sessions_ui.items]:find("New session"),
    sessions_ui)
  local remaining = client_mod.exec_sync(client, "agentBridge.sessions", {})
  check("session closed on the bridge", closed_id == session.id and remaining and #remaining == 0, remaining)
  check("chat of the closed session gone", chat.chats[session.id] == nil)
  check("statusline empty without a session", ab.statusline() == "", ab.statusline())
  t.answers.select = nil

  -- 16. Living sessions (history redraw, rewind, synced, conflict hunks), fed payloads in the wire's shape.
  dofile(vim.fs.joinpath(here, "living_sessions_test.lua"))(t, client)

  -- 16b. Steering (modes, models, commands, mentions), fed payloads in the wire's shape.
  dofile(vim.fs.joinpath(here, "steering_test.lua"))(t, client, target)

  -- 17. :checkhealth agent_bridge.
  vim.cmd("checkhealth agent_bridge")
  local health_lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  local health = table.concat(health_lines, "\n")
  verdict.health = health
  check("checkhealth reports the bridge version", health:find("agent-bridge 0.1.0", 1, true), health)
  check("checkhealth reports git", health:find("git version", 1, true), health)
  check("checkhealth reports the scripted agent", health:find("agent scripted (acp)", 1, true), health)
  check("checkhealth has no errors", not health:find("ERROR", 1, true), health)
  check("checkhealth says whether sandboxing is available", health:find("sandboxing is", 1, true), health)

  -- 18. The help file is found (setup() generated its tags).
  local help_ok = pcall(vim.cmd, "help :AgentPrompt")
  check(":help :AgentPrompt opens the plugin's help", help_ok
    and vim.api.nvim_buf_get_name(0):find("agent_bridge.txt", 1, true), vim.api.nvim_buf_get_name(0))

  verdict.ok = true
end

t.finish(main)
