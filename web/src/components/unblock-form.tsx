// Lifts every active block of the attribution id (AccountService.UnblockAttribution), with the
// reason the operator gives. The server allows it to admin tokens only.
import { useState } from "preact/hooks";
import { accountClient, actionKey, describeError } from "../api.js";
import { blockReasonLengthMax } from "../limits.js";

function validate(reason: string): string | undefined {
  if (reason.trim() === "") return "Give the reason for lifting the block.";
  if (reason.trim().length > blockReasonLengthMax) return `At most ${blockReasonLengthMax} characters.`;
  return undefined;
}

export function UnblockForm({ attributionId, onUnblocked }: { attributionId: string; onUnblocked: () => void }) {
  const [open, setOpen] = useState(false);
  const [reason, setReason] = useState("");
  const [error, setError] = useState<string | undefined>();
  const [status, setStatus] = useState<{ kind: "idle" | "busy" | "failed"; message?: string }>({ kind: "idle" });
  const [key] = useState(actionKey);

  if (!open) {
    return (
      <button type="button" class="button button--small" onClick={() => setOpen(true)}>
        Lift block…
      </button>
    );
  }

  const submit = async (event: Event) => {
    event.preventDefault();
    const problem = validate(reason);
    setError(problem);
    if (problem) return;
    setStatus({ kind: "busy" });
    try {
      const request = { attributionId, reason: reason.trim() };
      await accountClient.unblockAttribution(request, key.options(request));
      key.done();
      // The status reloads and shows "Not blocked"; this form goes away with the block.
      setStatus({ kind: "idle" });
      onUnblocked();
    } catch (failure) {
      setStatus({ kind: "failed", message: describeError(failure) });
    }
  };
  const cancel = () => {
    setOpen(false);
    setReason("");
    setError(undefined);
    setStatus({ kind: "idle" });
  };

  return (
    <form class="unblock-form" onSubmit={submit} noValidate aria-label="Lift the block">
      <div class="field">
        <label for="unblock-reason">Why is the block lifted?</label>
        <textarea
          id="unblock-reason"
          class="input"
          rows={2}
          maxLength={blockReasonLengthMax}
          value={reason}
          onInput={(e) => {
            setReason(e.currentTarget.value);
            setError(undefined);
          }}
          aria-invalid={error ? "true" : "false"}
          aria-describedby={error ? "unblock-reason-error" : undefined}
          autoFocus
        />
        {error && (
          <p id="unblock-reason-error" class="field-error">
            {error}
          </p>
        )}
      </div>
      <div class="form-actions">
        <button class="button button--danger" type="submit" disabled={status.kind === "busy"}>
          {status.kind === "busy" ? "Lifting…" : "Lift block"}
        </button>
        <button class="button button--quiet" type="button" onClick={cancel}>
          Cancel
        </button>
      </div>
      {status.kind === "failed" && (
        <p class="error-box unblock-form__error" role="alert">
          {status.message}
        </p>
      )}
    </form>
  );
}
