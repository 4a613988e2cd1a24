;;; common.el --- what the Emacs test drivers share  -*- lexical-binding: t -*-

;; Loaded by driver.el (eglot) and lsp_mode_driver.el (lsp-mode): the environment they read, the verdict they
;; write, how they log steps, wait for the server and pause like a user.  Questions to the user (none are
;; expected) are recorded instead of hanging the batch run.

;;; Code:

(require 'cl-lib)
(require 'json)
(require 'subr-x)

(defun ab-env (name)
  (or (getenv name) (error "%s is not set" name)))

(defvar ab-verdict-path (ab-env "AB_EMACS_VERDICT"))
(defvar ab-agent (ab-env "AB_EMACS_AGENT"))
(defvar ab-timeout (string-to-number (ab-env "AB_EMACS_TIMEOUT")))

(defvar ab-verdict (make-hash-table :test #'equal)
  "What the run saw, written as JSON: key -> value (vectors are arrays, plists and hash tables objects).")
(defvar ab-steps nil "Steps reached, newest first.")
(defvar ab-questions nil "Questions put to the user (none are expected), newest first.")
(defvar ab-buffer nil "The buffer of the file under test.")
(defvar ab-start (float-time))

(defun ab-put (key value) (puthash key value ab-verdict))

(defun ab-step (fmt &rest args)
  (let ((msg (apply #'format fmt args)))
    (push (format "%.1f %s" (- (float-time) ab-start) msg) ab-steps)
    (message "[driver] %s" msg)))

(defun ab-write-verdict ()
  (ab-put "steps" (vconcat (reverse ab-steps)))
  (ab-put "questions" (vconcat (reverse ab-questions)))
  (ab-put "elapsed" (- (float-time) ab-start))
  (with-temp-file ab-verdict-path
    (let ((json-encoding-pretty-print t))
      (insert (json-encode ab-verdict)))))

(defun ab-wait (what pred &optional timeout)
  "Let Emacs process the server's messages until PRED returns non-nil; fail after TIMEOUT seconds."
  (let ((deadline (+ (float-time) (or timeout ab-timeout))))
    (while (and (not (funcall pred)) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (or (funcall pred) (error "Timed out after %ss waiting for %s" (or timeout ab-timeout) what))))

(defun ab-idle ()
  "Run the idle timers, as interactive Emacs does when the user pauses.
Batch Emacs is never idle, so without this the client's `didChange' would wait for its next request."
  (dolist (timer (copy-sequence timer-idle-list))
    (timer-event-handler timer)))

(defun ab-text ()
  (with-current-buffer ab-buffer (buffer-substring-no-properties (point-min) (point-max))))

(dolist (fn '(y-or-n-p yes-or-no-p))
  (advice-add fn :override (lambda (prompt &rest _)
                             (push (format "%s" prompt) ab-questions)
                             (ab-step "unexpected question: %s" prompt)
                             nil)))

(provide 'ab-common)
;;; common.el ends here
