;;; driver.el --- test driver for tests/real/test_emacs_eglot.py  -*- lexical-binding: t -*-

;; Runs inside real Emacs (`emacs -q --batch -l driver.el') with eglot and plays a user of the README's eglot
;; recipe against the real bridge and a real ACP agent: open a Python file in a git repository with eglot
;; managing it, write a comment prompt (`# ... AI!') and run its "Ask agent: ..." code action, wait for the
;; answer eglot shows (window/showMessage) and the hint diagnostics, apply each pending hunk through
;; `eglot-code-actions' at the hunk's diagnostic (the picker answered by advising `completing-read', so eglot
;; itself applies the action's WorkspaceEdit), prompt again with `eglot-execute-command' as the README shows
;; (no session id: the bridge continues the workspace's session), and shut the server down with
;; `eglot-shutdown'.  It writes everything it saw to a JSON verdict
;; and exits; the pytest side makes the assertions.
;;
;; Environment:
;;   AB_EMACS_VERDICT       output JSON path
;;   AB_EMACS_EVENTS        where to dump eglot's events buffer (the JSON-RPC traffic and the server's stderr)
;;   AB_EMACS_FILE          the file to open (inside a git repository)
;;   AB_EMACS_INIT_OPTIONS  initializationOptions, as JSON
;;   AB_EMACS_LOG_FILE      the bridge's --log-file
;;   AB_EMACS_AGENT         the agent's name (the Apply action's title names it)
;;   AB_EMACS_COMMENT       the comment prompt line written at the top of the file (the first prompt)
;;   AB_EMACS_PROMPT2       the second prompt, sent with `eglot-execute-command' (continues the session)
;;   AB_EMACS_TIMEOUT       seconds for each wait
;;   AB_EMACS_DEADLINE      seconds for the whole run, after which it reports what it reached and exits
;;                          (the pytest side kills it a little later)

;;; Code:

(load (expand-file-name "common.el" (file-name-directory load-file-name)) nil t)
(require 'eglot)
(require 'python)

(defvar ab-events-path (ab-env "AB_EMACS_EVENTS"))
(defvar ab-file (ab-env "AB_EMACS_FILE"))
(defvar ab-deadline (string-to-number (ab-env "AB_EMACS_DEADLINE")))

(defvar ab-events nil "agentBridge/event notifications, newest first.")
(defvar ab-picked-from nil "The titles the code-action picker offered, newest first.")
(defvar ab-pick nil "The prefix of the code action to pick; nil: the agent's Apply.")
(defvar ab-server nil)

(advice-add 'ab-write-verdict :before
            (lambda () (ab-put "event_kinds" (vconcat (delete-dups (mapcar (lambda (e) (plist-get e :kind))
                                                                           (reverse ab-events)))))))

(defun ab-dump-events ()
  "Save eglot's events buffer (the JSON-RPC log, with the server's stderr) for the failure report."
  (when-let ((buf (and ab-server (jsonrpc-events-buffer ab-server))))
    (when (buffer-live-p buf)
      (with-current-buffer buf
        (write-region (point-min) (point-max) ab-events-path nil 'silent)))))

;;; The user's answer to the code-action picker (common.el records any other question).

(defun ab-completing-read (orig prompt collection &rest args)
  (let ((titles (mapcar (lambda (c) (if (consp c) (car c) c))
                        (if (functionp collection) (all-completions "" collection) collection))))
    (if (string-prefix-p "[eglot] Pick an action" prompt)
        (let* ((wanted (or ab-pick (format "Apply agent change (%s" ab-agent)))
               (chosen (cl-find-if (lambda (title) (string-prefix-p wanted title)) titles)))
          (push (vconcat titles) ab-picked-from)
          (ab-step "code action picker offered %S, chose %S" titles chosen)
          (or chosen (error "No \"%s\" among the code actions %S" wanted titles)))
      (push (format "%s %S" prompt titles) ab-questions)
      (ab-step "unexpected completing-read: %s %S" prompt titles)
      (or (car (member "Reject" titles)) (car titles) (apply orig prompt collection args)))))

(advice-add 'completing-read :around #'ab-completing-read)

;; eglot declares no agentBridge.events capability, so the bridge sends it no agentBridge/event (recorded here to
;; prove it) but the plain LSP messages every client shows: the answer in window/showMessage, the streamed text in
;; window/logMessage. Recorded before eglot's own handling, which the user sees.
(cl-defmethod eglot-handle-notification (_server (_method (eql agentBridge/event)) &rest params)
  (push params ab-events))

(defvar ab-shown nil "window/showMessage texts, newest first.")
(defvar ab-logged nil "window/logMessage texts, newest first.")

(cl-defmethod eglot-handle-notification :before
  (_server (_method (eql window/showMessage)) &key message &allow-other-keys)
  (push message ab-shown))

(cl-defmethod eglot-handle-notification :before
  (_server (_method (eql window/logMessage)) &key message &allow-other-keys)
  (push message ab-logged))

(defun ab-since (messages count)
  "The MESSAGES (newest first) that came after the first COUNT, oldest first, as a vector."
  (vconcat (reverse (butlast messages count))))

(defun ab-streamed-since (count)
  "The agent's text logged after the first COUNT log messages (each line is \"<agent>: <text>\")."
  (mapconcat (lambda (m) (string-remove-prefix (concat ab-agent ": ") m))
             (cl-remove-if-not (lambda (m) (string-prefix-p (concat ab-agent ": ") m))
                               (ab-since ab-logged count))
             "\n"))

(defun ab-answer-since (count)
  "Wait for the agent's answer shown after the first COUNT messages; return it."
  (ab-wait "the answer in window/showMessage"
           (lambda () (cl-some (lambda (m) (string-prefix-p (concat ab-agent ": ") m)) (ab-since ab-shown count))))
  (cl-find-if (lambda (m) (string-prefix-p (concat ab-agent ": ") m)) (ab-since ab-shown count)))

;;; Helpers around the server

(defun ab-command (command &rest args)
  "`eglot-execute-command' with one JSON object argument, as the README shows."
  (eglot-execute-command ab-server command (vector (or args (make-hash-table)))))

(defun ab-await-turn (reply)
  (let ((jsonrpc-default-request-timeout (+ ab-timeout 10)))  ; awaitTurn itself gives up after ab-timeout
    (ab-command "agentBridge.awaitTurn" :sessionId (plist-get reply :sessionId)
                :turnId (plist-get reply :turnId) :timeout ab-timeout)))

(defun ab-hints ()
  "The agent-bridge diagnostics flymake shows in the buffer, in buffer order."
  (with-current-buffer ab-buffer
    (sort (cl-remove-if-not (lambda (d) (string-match-p "agent-bridge" (flymake-diagnostic-text d)))
                            (flymake-diagnostics (point-min) (point-max)))
          (lambda (a b) (< (flymake-diagnostic-beg a) (flymake-diagnostic-beg b))))))

(defun ab-hint-lines ()
  (with-current-buffer ab-buffer
    (vconcat (mapcar (lambda (d) (line-number-at-pos (flymake-diagnostic-beg d))) (ab-hints)))))

(defun ab-pending-hunks (session-id)
  (apply #'+ (mapcar (lambda (file) (length (plist-get file :hunks)))
                     (ab-command "agentBridge.pending" :sessionId session-id))))

(defun ab-pending-ids (session-id)
  (sort (apply #'append (mapcar (lambda (file) (mapcar (lambda (h) (plist-get h :hunkId)) (plist-get file :hunks)))
                                (ab-command "agentBridge.pending" :sessionId session-id)))
        #'string<))

(defun ab-hint-ids ()
  (sort (mapcar (lambda (d) (let ((text (flymake-diagnostic-text d)))
                              (and (string-match "\\[\\(h[0-9a-f]+\\)\\]" text) (match-string 1 text))))
                (ab-hints))
        #'string<))

(defun ab-wait-settled (what session-id left)
  "Wait until the bridge holds LEFT pending hunks and flymake shows exactly those as hints.
Right after an apply, flymake drops the hint whose text the edit replaced at once, while the bridge is still
re-baselining: a user acting in between would see the old hunk. The test waits for both sides to agree."
  (ab-wait what (lambda () (let ((ids (ab-pending-ids session-id)))
                             (and (= (length ids) left) (equal ids (ab-hint-ids)))))))

(defun ab-agent-processes (pid)
  "pid and command line of the live children of PID (the bridge) that run the agent."
  (let (found)
    (dolist (p (list-system-processes))
      (let ((attrs (process-attributes p)))
        (when (and (eql (alist-get 'ppid attrs) pid)
                   (not (member (alist-get 'state attrs) '("Z" "X")))
                   (string-match-p "qwen" (or (alist-get 'args attrs) "")))
          (push (list :pid p :args (alist-get 'args attrs)) found))))
    (vconcat (sort found (lambda (a b) (< (plist-get a :pid) (plist-get b :pid)))))))

(defun ab-agent-statuses ()
  (vconcat (mapcar (lambda (s) (vconcat (mapcar (lambda (a) (format "%s:%s" (plist-get a :agent) (plist-get a :status)))
                                                 (plist-get s :agents))))
                   (ab-command "agentBridge.sessions"))))

(defun ab-apply-hunk-at-first-hint (n)
  "Put point on the first hint (a pending hunk) and run `eglot-code-actions' as from a key."
  (with-current-buffer ab-buffer
    (let ((hint (car (ab-hints))))
      (unless hint (error "No agent-bridge hint left for hunk %d" n))
      (goto-char (flymake-diagnostic-beg hint))
      (ab-step "hunk %d: point on line %d, hint %S" n (line-number-at-pos) (flymake-diagnostic-text hint))
      ;; Invoked from the keyboard, not a mouse menu: eglot checks `last-nonmenu-event' to choose between
      ;; `completing-read' and a popup menu, and batch Emacs has seen no event at all.
      (let ((last-nonmenu-event ?a)
            (this-command 'eglot-code-actions))
        (call-interactively #'eglot-code-actions))
      (ab-put (format "after_hunk_%d" n) (ab-text))
      ;; The user pauses: eglot tells the server about the edit, and the bridge re-baselines.
      (ab-idle))))

;;; The run

(defun ab-run ()
  (let* ((init-options (json-parse-string (ab-env "AB_EMACS_INIT_OPTIONS")
                                          :object-type 'plist :array-type 'array))
         (log-file (ab-env "AB_EMACS_LOG_FILE")))
    (ab-put "emacs_version" emacs-version)
    (ab-put "eglot_version" (or (ignore-errors (require 'lisp-mnt) (lm-version (locate-library "eglot.el")))
                                "?"))
    (ab-put "eglot_library" (locate-library "eglot"))
    (setq eglot-confirm-server-initiated-edits nil)
    ;; The README's recipe, with the agent configuration as initializationOptions.
    (add-to-list 'eglot-server-programs
                 `(python-mode . ("agent-bridge" "serve" "--log-file" ,log-file
                                  :initializationOptions ,init-options)))

    ;; 1. Open the file; eglot manages it.
    (setq ab-buffer (find-file ab-file))
    (with-current-buffer ab-buffer
      (ab-put "major_mode" (symbol-name major-mode))
      (ab-put "before" (ab-text))
      (let ((started (float-time)))
        (call-interactively #'eglot)
        (ab-wait "eglot to manage the buffer"
                 (lambda () (and (eglot-current-server) eglot--managed-mode
                                 (jsonrpc-running-p (eglot-current-server)))))
        (setq ab-server (eglot-current-server))
        (ab-put "connect_seconds" (- (float-time) started)))
      (ab-put "server_name" (plist-get (eglot--server-info ab-server) :name))
      (ab-step "eglot manages %s: %s" (buffer-name) (eglot--server-info ab-server)))
    (let* ((bridge (jsonrpc--process ab-server))
           (bridge-pid (process-id bridge)))
      (ab-put "bridge_pid" bridge-pid)

      ;; 2. Prompt with a comment: write it above `def add', pick its "Ask agent: ..." code action.
      (let* ((logged (length ab-logged))
             (shown (length ab-shown)))
        (with-current-buffer ab-buffer
          (goto-char (point-min))
          (insert (ab-env "AB_EMACS_COMMENT") "\n")
          (ab-put "with_comment" (ab-text))
          (ab-idle)  ; the user pauses: eglot sends didChange
          (goto-char (point-min))
          (let ((ab-pick "Ask agent: ")
                (last-nonmenu-event ?a)
                (this-command 'eglot-code-actions))
            (call-interactively #'eglot-code-actions)))
        (ab-put "comment_picked_from" (car ab-picked-from))
        (setq ab-picked-from nil)
        (ab-step "comment prompt sent")

        ;; 3. The answer eglot shows at the turn's end, then the hunks as hints.
        (ab-put "first_answer" (ab-answer-since shown))
        (ab-put "first_streamed" (ab-streamed-since logged))
        (let* ((session-id (plist-get (aref (ab-command "agentBridge.sessions") 0) :sessionId))
               (turn (aref (ab-command "agentBridge.history" :sessionId session-id) 0))
               (reply (list :sessionId session-id :turnId (plist-get turn :turnId))))
         (ab-put "first_reply" reply)
         (ab-put "first_prompt" (plist-get turn :prompt))
         (ab-put "first_turn" (ab-await-turn reply))
         (ab-step "first turn ended: %S" (gethash "first_turn" ab-verdict))
        (ab-wait "two agent-bridge hints" (lambda () (= (length (ab-hints)) 2)))
        (ab-put "hint_lines" (ab-hint-lines))
        (ab-put "hint_texts" (vconcat (mapcar #'flymake-diagnostic-text (ab-hints))))
        (ab-put "pending_before" (ab-pending-hunks session-id))
        (ab-put "agents_after_first" (ab-agent-processes bridge-pid))
        (ab-put "statuses_after_first" (ab-agent-statuses))

        ;; 4. Apply both hunks through eglot's code actions, each at its own hint.
        (ab-apply-hunk-at-first-hint 1)
        (ab-wait-settled "one hunk left after the first apply" session-id 1)
        (ab-put "pending_after_hunk_1" (ab-pending-hunks session-id))
        (ab-apply-hunk-at-first-hint 2)
        (ab-wait-settled "no hunk left after the second apply" session-id 0)
        (ab-put "pending_after_hunk_2" (ab-pending-hunks session-id))
        (ab-put "picked_from" (vconcat (reverse ab-picked-from)))

        ;; 5. The buffer is the agent's version (unsaved: the file on disk is checked by pytest).
        (ab-put "after" (ab-text))
        (ab-put "modified" (if (buffer-modified-p ab-buffer) t :json-false))

        ;; 6. A second turn, prompted as the README shows (no session id): the same session, the same warm agent.
        (let* ((logged2 (length ab-logged))
               (shown2 (length ab-shown))
               (reply2 (ab-command "agentBridge.prompt" :text (ab-env "AB_EMACS_PROMPT2"))))
          (ab-step "prompted again: %S" reply2)
          (ab-put "second_reply" reply2)
          (ab-put "second_turn" (ab-await-turn reply2))
          (ab-step "second turn ended: %S" (gethash "second_turn" ab-verdict))
          (ab-put "second_answer" (ab-answer-since shown2))
          (ab-put "second_streamed" (ab-streamed-since logged2)))
        (ab-put "agents_after_second" (ab-agent-processes bridge-pid))
        (ab-put "statuses_after_second" (ab-agent-statuses))
        (ab-put "sessions" (vconcat (mapcar (lambda (s) (plist-get s :sessionId))
                                            (ab-command "agentBridge.sessions"))))))

      ;; 7. Shut down the way a user does; the server process ends.
      (let ((started (float-time)))
        (eglot-shutdown ab-server nil nil t)  ; keep the events buffer for the report
        (ab-dump-events)
        (ab-wait "the bridge process to end" (lambda () (not (process-live-p bridge))))
        (ab-put "bridge_status" (symbol-name (process-status bridge)))
        (ab-put "bridge_exit_code" (process-exit-status bridge))
        (ab-wait "the bridge pid to disappear" (lambda () (null (process-attributes bridge-pid))))
        (ab-put "shutdown_seconds" (- (float-time) started))
        (ab-step "server gone after %.1f s" (gethash "shutdown_seconds" ab-verdict))
        (ab-put "managed_after_shutdown" (if (buffer-local-value 'eglot--managed-mode ab-buffer) t :json-false))))
    (ab-put "ok" t)))

(ab-put "ok" :json-false)
;; A last resort for a run stuck somewhere no wait of ours covers: report instead of being killed silently.
(run-with-timer ab-deadline nil
                (lambda ()
                  (ab-put "error" (format "the run took longer than %ss" ab-deadline))
                  (ab-dump-events)
                  (ab-write-verdict)
                  (kill-emacs 3)))
(condition-case err
    (ab-run)
  (error
   (ab-put "error" (error-message-string err))
   (message "[driver] error: %s" (error-message-string err))))
(ab-dump-events)
(ab-write-verdict)
(kill-emacs (if (eq (gethash "ok" ab-verdict) t) 0 1))

;;; driver.el ends here
