-- Reviewing in place, run by tests/real/test_neovim_review.py in real headless Neovim after the README's minimal
-- configuration: the real `agent-bridge serve` and its scripted ACP agent. Records a check per observation in
-- the JSON file named by AB_TEST_VERDICT. Environment: AB_TEST_REPO (a fresh git repository with greet.py and
-- other.txt).
local verdict_path = assert(os.getenv("AB_TEST_VERDICT"), "AB_TEST_VERDICT not set")
local repo = assert(os.getenv("AB_TEST_REPO"), "AB_TEST_REPO not set")

local here = vim.fs.dirname(debug.getinfo(1, "S").source:sub(2))
local helper = dofile(vim.fs.joinpath(here, "helper.lua"))
local t = helper.start(verdict_path)
local verdict, check, wait, turn_end, buf_text = t.verdict, t.check, t.wait, t.turn_end, helper.buf_text

local GREET = "def greet(name):\n    print('hello ' + name)\n"
local GREET_EOF = GREET .. "\n\ndef farewell(name):\n    print('bye ' + name)\n"

vim.lsp.set_log_level("debug")

local function main()
  local ab = require("agent_bridge")
  local review = require("agent_bridge.review")
  local sessions = require("agent_bridge.sessions")
  local client_mod = require("agent_bridge.client")
  vim.cmd("filetype on")
  vim.cmd.edit(vim.fn.fnameescape(vim.fs.joinpath(repo, "greet.py")))
  local buf = vim.api.nvim_get_current_buf()
  local win = vim.api.nvim_get_current_win()

  -- 1. A prompt at once after opening the file, while its bridge is still starting, waits for it.
  local started = client_mod.clients({ bufnr = buf })[1]
  check("the bridge is not attached yet when the first prompt goes", started == nil or not started.initialized)
  local queued
  -- A hunk appended at the end of the file: reachable from the last line, applied without a blank line more.
  ab.prompt({ text = "@write greet.py\n" .. GREET_EOF:gsub("\n$", "") .. "\n@end", on_queued = function(res)
    queued = res
  end })
  wait("eof turn queued", function()
    return queued ~= nil
  end)
  check("a prompt sent while the bridge starts is not dropped", not vim.iter(verdict.notifications):any(function(n)
    return n.msg:find("no agent-bridge", 1, true) ~= nil
  end), verdict.notifications)
  local client = client_mod.clients({ bufnr = buf })[1]
  wait("eof turn ended", function()
    return turn_end(queued.turnId) ~= nil
  end)
  wait("eof hunk shown", function()
    return #review.hunks(buf) == 1
  end)
  verdict.eof_hunks = review.hunks(buf)
  vim.api.nvim_set_current_win(win)
  vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(buf), 0 })
  local applied
  review.apply({ on_done = function(n)
    applied = n
  end })
  wait("eof apply answered", function()
    return applied ~= nil
  end, 3000)
  check("the last line reaches the hunk appended after it", applied == 1, applied)
  wait("eof hunk applied", function()
    return #review.hunks(buf) == 0
  end)
  check("the appended hunk applies without an extra blank line", buf_text(buf) == GREET_EOF, buf_text(buf))

  -- 2. The chat follows its output past a folded reasoning block to the turn's end.
  local chat = require("agent_bridge.chat")
  local session = sessions.get(queued.sessionId)
  local chat_win = chat.window(session.id)
  check("the chat window is open", chat_win ~= nil)
  local cw = require("agent_bridge.chat_window")
  local under = cw.find(cw.PROMPT_FT)
  check("the prompt buffer opens under the chat with it", under ~= nil
    and vim.b[vim.api.nvim_win_get_buf(under)].agent_bridge_session == session.id
    and vim.fn.win_screenpos(under)[1] > vim.fn.win_screenpos(chat_win)[1]
    and vim.api.nvim_get_current_win() == win)
  local function say_lines(n, tag)
    local out = {}
    for i = 1, n do
      table.insert(out, string.format("@say %s line %d", tag, i))
    end
    return table.concat(out, "\n")
  end
  local function run_turn(text)
    local res
    ab.prompt({ text = text, bufnr = buf, on_queued = function(r)
      res = r
    end })
    wait("turn queued: " .. text:sub(1, 20), function()
      return res ~= nil
    end)
    wait("turn ended: " .. text:sub(1, 20), function()
      return turn_end(res.turnId) ~= nil
    end)
    return res
  end
  run_turn("@think pondering it over\n@think and more\n" .. say_lines(40, "answer"))
  local cbuf = chat.chats[session.id].buf
  local last = vim.api.nvim_buf_line_count(cbuf)
  local bottom = vim.fn.line("w$", chat_win)
  check("the chat shows the turn's end after a reasoning fold", bottom == last
    and vim.api.nvim_win_get_cursor(chat_win)[1] == last, { bottom = bottom, last = last,
    cursor = vim.api.nvim_win_get_cursor(chat_win) })
  -- Scrolled up: new output leaves the window where the user put it; back at the end, it follows again.
  vim.api.nvim_win_set_cursor(chat_win, { 1, 0 })
  run_turn(say_lines(5, "more"))
  check("the chat stays where the user scrolled up to", vim.api.nvim_win_get_cursor(chat_win)[1] == 1,
    vim.api.nvim_win_get_cursor(chat_win))
  vim.api.nvim_win_set_cursor(chat_win, { vim.api.nvim_buf_line_count(cbuf), 0 })
  run_turn(say_lines(5, "again"))
  last = vim.api.nvim_buf_line_count(cbuf)
  check("back at the end, the chat follows again", vim.api.nvim_win_get_cursor(chat_win)[1] == last
    and vim.fn.line("w$", chat_win) == last, { vim.api.nvim_win_get_cursor(chat_win), last })

  -- 3. The chat's and the prompt buffer's mappings: <CR> sends the prompt, <C-c> cancels the running turn.
  local function mapping(b, mode, lhs)
    local found
    vim.api.nvim_buf_call(b, function()
      found = vim.fn.maparg(lhs, mode, false, true)
    end)
    return found and found.callback and found or nil
  end
  for _, lhs in ipairs({ "q", "i", "<C-c>" }) do
    check("chat maps " .. lhs, mapping(cbuf, "n", lhs) ~= nil)
  end
  local pwin = ab.compose(session.id, { insert = false })
  check("compose uses the prompt window already there", pwin == under)
  local pbuf = vim.api.nvim_win_get_buf(pwin)
  check("the prompt buffer opens under the chat", vim.bo[pbuf].filetype == "agent_bridge_prompt"
    and vim.fn.win_screenpos(pwin)[1] > vim.fn.win_screenpos(chat_win)[1], vim.bo[pbuf].filetype)
  for _, m in ipairs({ { "n", "<CR>" }, { "n", "<C-s>" }, { "i", "<C-s>" }, { "n", "<C-c>" }, { "i", "<C-c>" },
    { "n", "q" } }) do
    check("prompt buffer maps " .. m[1] .. " " .. m[2], mapping(pbuf, m[1], m[2]) ~= nil)
  end
  vim.api.nvim_buf_set_lines(pbuf, 0, -1, false, { "@say from the prompt buffer", "@sleep 30", "@say not reached" })
  local before = session.turn and session.turn.id
  vim.api.nvim_buf_call(pbuf, function()
    mapping(pbuf, "n", "<CR>").callback()
  end)
  wait("the prompt buffer's turn runs", function()
    return session.turn and session.turn.id ~= before and session.turn.status == "running"
  end)
  check("<CR> sent the prompt and emptied the buffer", buf_text(pbuf) == "\n", buf_text(pbuf))
  local running = session.turn.id
  vim.api.nvim_buf_call(pbuf, function()
    mapping(pbuf, "n", "<C-c>").callback()
  end)
  wait("the turn is cancelled", function()
    return turn_end(running) ~= nil
  end)
  check("<C-c> in the prompt buffer cancelled the turn", turn_end(running).status == "cancelled", turn_end(running))

  -- 4. `--new` shows the new session's chat in the same window, as wide as before; the prompt window follows.
  vim.api.nvim_set_current_win(win)
  local width = vim.api.nvim_win_get_width(chat_win)
  vim.cmd("AgentPrompt --new @say a second session")
  local second
  wait("second session", function()
    second = sessions.current(client.id)
    for id, s in pairs(sessions.by_id) do
      if id ~= session.id then
        second = s
      end
    end
    return second ~= session and second.turn ~= nil and chat.window(second.id) ~= nil
  end)
  local chat_wins = vim.tbl_filter(function(w)
    return vim.bo[vim.api.nvim_win_get_buf(w)].filetype == "agent_bridge_chat"
  end, vim.api.nvim_tabpage_list_wins(0))
  check("--new reuses the one chat window", #chat_wins == 1 and chat.window(second.id) == chat_win, chat_wins)
  check("the chat window keeps its width", vim.api.nvim_win_get_width(chat_win) == width,
    { vim.api.nvim_win_get_width(chat_win), width })
  check("the prompt window follows the chat's session", vim.api.nvim_win_is_valid(pwin)
    and vim.b[vim.api.nvim_win_get_buf(pwin)].agent_bridge_session == second.id)
  wait("second turn ended", function()
    return turn_end(second.turn.id) ~= nil
  end)
  local scratch = vim.api.nvim_create_buf(false, true)
  require("agent_bridge.config").options.mappings = false
  require("agent_bridge.keymaps").chat(scratch)
  require("agent_bridge.keymaps").prompt(scratch)
  require("agent_bridge.config").options.mappings = true
  vim.api.nvim_set_current_win(chat_win)
  mapping(chat.chats[second.id].buf, "n", "q").callback()
  check("q in the chat closes the chat and the prompt window", chat.window(second.id) == nil
    and cw.find(cw.PROMPT_FT) == nil and vim.api.nvim_win_is_valid(win))
  vim.api.nvim_set_current_win(win)
  check("mappings = false sets none", mapping(scratch, "n", "q") == nil and mapping(scratch, "n", "<CR>") == nil)

  -- 5. A change to two files: inline preview, moving hunk to hunk across files, bulk reject / unreject / apply.
  local OTHER_AGENT = "one\nTWO\nthree\nfour\nfive\n"
  local GREET_AGENT = GREET_EOF:gsub("hello ", "hi "):gsub("\ndef farewell", "\n# and then\ndef farewell")
  local multi
  ab.prompt({ session = second.id, bufnr = buf, text = "@write other.txt\n" .. OTHER_AGENT .. "@end\n@write greet.py\n"
    .. GREET_AGENT .. "@end", on_queued = function(r)
    multi = r
  end })
  wait("multi-file turn queued", function()
    return multi ~= nil
  end)
  wait("multi-file turn ended", function()
    return turn_end(multi.turnId) ~= nil
  end)
  vim.api.nvim_set_current_win(win)
  wait("greet.py hunks shown", function()
    return #review.hunks(buf) == 2
  end)
  local preview = require("agent_bridge.preview")
  local function preview_marks(b)
    return vim.api.nvim_buf_get_extmarks(b, preview.ns, 0, -1, { details = true })
  end
  local toggled
  vim.cmd("AgentPreview")
  wait("preview drawn", function()
    return #preview_marks(buf) > 0
  end)
  local marks = preview_marks(buf)
  verdict.preview_marks = marks
  local removed = vim.tbl_filter(function(m)
    return m[4].line_hl_group == "AgentBridgePreviewDelete"
  end, marks)
  local added = vim.tbl_filter(function(m)
    return m[4].virt_lines ~= nil
  end, marks)
  check("preview highlights the removed line in place", #removed == 1 and removed[1][2] == 1, removed)
  check("preview shows the added line as a virtual line under it", #added == 2 and added[1][2] == 1
    and vim.trim(added[1][4].virt_lines[1][1][1]) == "print('hi ' + name)"
    and added[1][4].virt_lines[1][1][2] == "AgentBridgePreviewAdd" and not added[1][4].virt_lines_above, added)
  check("preview shows an inserted line above the line it goes before", added[2] and added[2][2] == 4
    and added[2][4].virt_lines_above == true and vim.trim(added[2][4].virt_lines[1][1][1]) == "# and then", added)
  check("preview is per buffer", vim.b[buf].agent_bridge_preview == true)

  -- Next / previous hunk, across files.
  vim.api.nvim_win_set_cursor(win, { 1, 0 })
  local function nav(dir)
    local where
    ab[dir .. "_hunk"]({ on_done = function(path, line)
      where = { path = path and vim.fs.basename(path), line = line }
    end })
    wait(dir .. " hunk", function()
      return where ~= nil
    end)
    return where
  end
  local w = nav("next")
  check("next: the hunk below in this file", w.path == "greet.py" and w.line == 2, w)
  w = nav("next")
  check("next: the file's next hunk", w.path == "greet.py" and w.line == 5, w)
  w = nav("next")
  check("next: the next file's first hunk", w.path == "other.txt" and w.line == 2
    and vim.api.nvim_win_get_buf(win) ~= buf and vim.api.nvim_get_current_win() == win, w)
  local obuf = vim.api.nvim_win_get_buf(win)
  wait("other.txt hunks shown", function()
    return #review.hunks(obuf) == 2
  end)
  preview.toggle({ bufnr = obuf, on = true })
  wait("other.txt preview drawn", function()
    return #preview_marks(obuf) == 3
  end)
  local appended = vim.tbl_filter(function(m)
    return m[4].virt_lines ~= nil and vim.trim(m[4].virt_lines[1][1][1]) == "five"
  end, preview_marks(obuf))
  check("preview shows lines appended at the end under the last line", #appended == 1 and appended[1][2] == 3
    and not appended[1][4].virt_lines_above, preview_marks(obuf))
  check("preview is off in buffers not toggled", preview.enabled(vim.api.nvim_create_buf(true, false)) == false)
  w = nav("next")
  check("next: the appended hunk on the last line", w.path == "other.txt" and w.line == 4, w)
  w = nav("next")
  check("next wraps around to the first file", w.path == "greet.py" and w.line == 2, w)
  w = nav("prev")
  check("prev: the previous file's last hunk", w.path == "other.txt" and w.line == 4, w)
  w = nav("prev")
  check("prev: the hunk above in this file", w.path == "other.txt" and w.line == 2, w)

  -- Reject reports what it did and how to undo it; :AgentUnreject brings the hunk back.
  local function last_note()
    return verdict.notifications[#verdict.notifications].msg
  end
  vim.cmd.buffer(buf)
  vim.api.nvim_win_set_cursor(win, { 2, 0 })
  local rejected, applied
  review.reject({ on_done = function(n)
    rejected = n
  end })
  wait("hunk rejected", function()
    return rejected ~= nil
  end)
  check("reject says how many and how to undo", rejected == 1
    and last_note():find("rejected 1 agent change (:AgentUnreject brings them back)", 1, true), last_note())
  wait("preview follows pendingChanged (the rejected hunk's marks go)", function()
    return #preview_marks(buf) == 1 and #review.hunks(buf) == 1
  end)
  vim.cmd("AgentUnreject")
  wait("the rejected hunk is pending again", function()
    return #review.hunks(buf) == 2 and last_note():find("pending again", 1, true) ~= nil
  end)
  check("unreject says what came back", last_note():find("1 rejected agent change pending again", 1, true), last_note())
  wait("preview follows pendingChanged (drawn again)", function()
    return #preview_marks(buf) == 3
  end)

  -- The whole file: :AgentReject!, and back.
  vim.cmd.buffer(obuf)
  rejected = nil
  review.reject({ bang = true, on_done = function(n)
    rejected = n
  end })
  wait("file rejected", function()
    return rejected ~= nil and #review.hunks(obuf) == 0
  end)
  check("reject of the file rejects both hunks", rejected == 2 and last_note():find("rejected 2 agent changes", 1,
    true), last_note())
  local restored
  ab.unreject({ on_done = function(n)
    restored = n
  end })
  wait("file unrejected", function()
    return restored ~= nil and #review.hunks(obuf) == 2
  end)
  check("unreject restores the file's hunks", restored == 2, restored)

  -- From inside the diff view: :AgentReject and :AgentApply in the agent's window act on the hunk there.
  vim.api.nvim_set_current_win(win)
  local diff_win
  ab.diff({ on_done = function(w)
    diff_win = w
  end })
  wait("diff view open", function()
    return diff_win ~= nil
  end)
  local scratch = vim.api.nvim_win_get_buf(diff_win)
  vim.api.nvim_set_current_win(diff_win)
  vim.api.nvim_win_set_cursor(diff_win, { 2, 0 }) -- "TWO"
  rejected = nil
  review.reject({ on_done = function(n)
    rejected = n
  end })
  wait("rejected from the diff view", function()
    return rejected ~= nil and #review.hunks(obuf) == 1
  end)
  wait("the diff view shows the agent's version after the reject", function()
    return vim.api.nvim_buf_get_lines(scratch, 1, 2, false)[1] == "two"
  end)
  check("reject in the diff view rejects the hunk under the cursor", rejected == 1 and vim.api.nvim_buf_get_lines(
    scratch, 0, -1, false)[5] == "five", vim.api.nvim_buf_get_lines(scratch, 0, -1, false))
  vim.api.nvim_win_set_cursor(diff_win, { 5, 0 }) -- "five", appended
  applied = nil
  review.apply({ on_done = function(n)
    applied = n
  end })
  wait("applied from the diff view", function()
    return applied ~= nil
  end)
  check("apply in the diff view applies the hunk under the cursor to the file's buffer", applied == 1
    and buf_text(obuf) == "one\ntwo\nthree\nfour\nfive\n", buf_text(obuf))
  wait("nothing pending closes the diff view", function()
    return not vim.api.nvim_buf_is_valid(scratch) or #review.hunks(obuf) == 0
  end)
  vim.api.nvim_set_current_win(win)
  vim.cmd("AgentUnreject") -- "TWO" again, for the session's bulk actions
  wait("the diff view's reject taken back", function()
    return #review.hunks(obuf) == 1
  end)

  -- The whole session: reject-all, unreject, apply-all.
  rejected = nil
  ab.reject_all({ session = second.id, on_done = function(n)
    rejected = n
  end })
  wait("session rejected", function()
    return rejected ~= nil
  end)
  check("reject-all rejects the session's three hunks", rejected == 3, rejected)
  restored = nil
  vim.cmd("AgentUnreject")
  wait("session unrejected", function()
    return #review.hunks(obuf) == 1 and #review.hunks(buf) == 2
  end)
  applied = nil
  ab.apply_all({ session = second.id, on_done = function(n)
    applied = n
  end })
  wait("session applied", function()
    return applied ~= nil
  end)
  check("apply-all applies every hunk of the session", applied == 3 and buf_text(obuf) == OTHER_AGENT
    and buf_text(buf) == GREET_AGENT, { applied, buf_text(obuf), buf_text(buf) })
  check("apply-all says how many", last_note():find("applied 3 agent changes", 1, true), last_note())

  -- 6. :help agent_bridge lands on the plugin's main tag; stale tags (an older plugin's) are generated again.
  local doc = vim.fs.joinpath(vim.fs.dirname(here), "doc")
  local tags = vim.fs.joinpath(doc, "tags")
  vim.fn.writefile({ ":AgentPrompt\tagent_bridge.txt\t/*:AgentPrompt*" }, tags)
  vim.uv.fs_utime(tags, 1, 1)
  ab.helptags()
  local tag_lines = vim.fn.readfile(tags)
  check("stale help tags are generated again", vim.iter(tag_lines):any(function(l)
    return vim.startswith(l, ":AgentUnreject\t")
  end), #tag_lines)
  for _, topic in ipairs({ "agent_bridge", "agent-bridge" }) do
    local ok = pcall(vim.cmd.help, topic)
    check(":help " .. topic .. " lands on the plugin's main tag", ok
      and vim.fs.basename(vim.api.nvim_buf_get_name(0)) == "agent_bridge.txt"
      and vim.api.nvim_get_current_line():find("*agent_bridge*", 1, true) ~= nil, vim.api.nvim_get_current_line())
    vim.cmd("silent! helpclose")
  end
  for _, topic in ipairs({ ":AgentUnreject", ":AgentNext", ":AgentPreview", ":AgentApplyAll", ":AgentRejectAll",
    "agent_bridge-mappings" }) do
    check(":help " .. topic, pcall(vim.cmd.help, topic))
    vim.cmd("silent! helpclose")
  end

  verdict.ok = true
end

t.finish(main)
