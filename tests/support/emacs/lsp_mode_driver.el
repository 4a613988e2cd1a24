;;; lsp_mode_driver.el --- test driver for tests/real/test_emacs_lsp_mode.py  -*- lexical-binding: t -*-

;; Runs inside real Emacs (`emacs -q --batch -l lsp_mode_driver.el') with lsp-mode and plays a user of the
;; README's lsp-mode recipe: register agent-bridge as an add-on client, open a Python file in a git repository,
;; write a comment prompt (`# ... AI!'), run its "Ask agent: ..." code action, wait for the answer lsp-mode shows
;; (window/showMessage), then apply each pending hunk through its "Apply agent change" code action on the hunk's
;; line (lsp-mode applies the action's WorkspaceEdit itself).  It writes what it saw to a JSON verdict and exits;
;; the pytest side makes the assertions.
;;
;; Environment: AB_EMACS_VERDICT, AB_EMACS_FILE, AB_EMACS_INIT_OPTIONS (JSON), AB_EMACS_LOG_FILE, AB_EMACS_AGENT,
;; AB_EMACS_COMMENT (the comment prompt line), AB_EMACS_TIMEOUT (seconds per wait).

;;; Code:

(load (expand-file-name "common.el" (file-name-directory load-file-name)) nil t)
(require 'python)
(require 'lsp-mode)

(defvar ab-shown nil "window/showMessage texts, newest first.")

(advice-add 'lsp--window-show-message :before
            (lambda (_workspace params) (push (gethash "message" params) ab-shown)))

(defun ab-hints ()
  "The bridge's diagnostics lsp-mode holds for the file: (line . hunk id), in line order."
  (let ((diags (gethash (lsp--fix-path-casing (buffer-file-name ab-buffer)) (lsp-diagnostics t))))
    (sort (cl-loop for d in diags
                   when (equal (lsp:diagnostic-source? d) "agent-bridge")
                   collect (cons (lsp:position-line (lsp:range-start (lsp:diagnostic-range d)))
                                 (lsp:diagnostic-code? d)))
          (lambda (a b) (< (car a) (car b))))))

(defun ab-pending-ids ()
  (let ((files (lsp-send-execute-command "agentBridge.pending" (vector (make-hash-table)))))
    ;; lsp-mode decodes JSON arrays as lists or vectors depending on where they sit: take both.
    (sort (cl-loop for file in (append files nil)
                   append (cl-loop for h in (append (gethash "hunks" file) nil) collect (gethash "hunkId" h)))
          #'string<)))

(defun ab-run-action (prefix)
  "Run the code action on the current line whose title starts with PREFIX; the titles offered."
  (let* ((actions (append (lsp-code-actions-at-point) nil))
         (titles (mapcar #'lsp:code-action-title actions))
         (chosen (cl-find-if (lambda (a) (string-prefix-p prefix (lsp:code-action-title a))) actions)))
    (ab-step "code actions offered %S" titles)
    (unless chosen (error "No code action %S among %S" prefix titles))
    (lsp-execute-code-action chosen)
    (vconcat titles)))

(defun ab-run ()
  (setq lsp-auto-guess-root t
        lsp-session-file (expand-file-name "lsp-session" (getenv "HOME"))
        lsp-enable-file-watchers nil
        lsp-log-io t
        lsp-diagnostics-provider :none
        lsp-modeline-code-actions-enable nil
        lsp-headerline-breadcrumb-enable nil
        lsp-enable-suggest-server-download nil)
  ;; The README's recipe, with the agent configuration as initializationOptions.
  (let ((init-options (json-parse-string (ab-env "AB_EMACS_INIT_OPTIONS") :object-type 'plist :array-type 'array))
        (log-file (ab-env "AB_EMACS_LOG_FILE")))
    (lsp-register-client
     (make-lsp-client :new-connection (lsp-stdio-connection `("agent-bridge" "serve" "--log-file" ,log-file))
                      :activation-fn (lsp-activate-on "python")
                      :server-id 'agent-bridge
                      :add-on? t
                      :initialization-options (lambda () init-options))))
  (ab-put "lsp_mode_version" (lsp-version))
  (setq ab-buffer (find-file (ab-env "AB_EMACS_FILE")))
  (with-current-buffer ab-buffer
    (ab-put "before" (ab-text))
    (lsp)
    (ab-wait "lsp-mode to connect" (lambda () (and (lsp-workspaces)
                                                  (eq (lsp--workspace-status (car (lsp-workspaces))) 'initialized))))
    (ab-put "servers" (vconcat (mapcar (lambda (w) (symbol-name (lsp--client-server-id (lsp--workspace-client w))))
                                       (lsp-workspaces))))
    ;; 1. The comment prompt, above the first line.
    (goto-char (point-min))
    (insert (ab-env "AB_EMACS_COMMENT") "\n")
    (ab-put "with_comment" (ab-text))
    (ab-idle)
    (goto-char (point-min))
    (ab-put "comment_actions" (ab-run-action "Ask agent: "))
    ;; 2. The answer lsp-mode shows at the turn's end, then the hunks as diagnostics.
    (ab-wait "the answer in window/showMessage"
             (lambda () (cl-some (lambda (m) (string-prefix-p (concat ab-agent ": ") m)) ab-shown)))
    (ab-put "answer" (cl-find-if (lambda (m) (string-prefix-p (concat ab-agent ": ") m)) ab-shown))
    (ab-wait "two hunks" (lambda () (= (length (ab-hints)) 2)))
    (ab-put "hint_lines" (vconcat (mapcar (lambda (h) (1+ (car h))) (ab-hints))))
    ;; 3. Each hunk applied with its code action, on its line.
    (dotimes (i 2)
      (let ((hint (car (ab-hints))))
        (goto-char (point-min))
        (forward-line (car hint))
        (ab-put (format "apply_actions_%d" (1+ i)) (ab-run-action (format "Apply agent change (%s" ab-agent)))
        (ab-idle)
        (ab-put (format "after_hunk_%d" (1+ i)) (ab-text))
        (ab-wait "the bridge and lsp-mode to agree on what is left"
                 (lambda () (let ((ids (ab-pending-ids)))
                              (and (= (length ids) (- 1 i))
                                   (equal ids (sort (mapcar #'cdr (ab-hints)) #'string<))))))))
    (ab-put "after" (ab-text))
    (ab-put "modified" (if (buffer-modified-p) t :json-false))
    (lsp-workspace-shutdown (car (lsp-workspaces))))
  (ab-put "ok" t))

(ab-put "ok" :json-false)
(condition-case err
    (ab-run)
  (error (ab-put "error" (error-message-string err))
         (message "[driver] error: %s" (error-message-string err))))
(ab-write-verdict)
(kill-emacs (if (eq (gethash "ok" ab-verdict) t) 0 1))

;;; lsp_mode_driver.el ends here
