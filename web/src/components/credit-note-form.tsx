// Adds or subtracts credits with a credit note (AddUsageCreditNote; a subtraction is a negative
// amount): whole credits and the reason, optionally for a user.
import { useState } from "preact/hooks";
import { explainNotUuid } from "../../../src/domain/uuid.js";
import { actionKey, describeError, usageClient } from "../api.js";
import { creditNoteCreditsMax, descriptionLengthMax } from "../limits.js";

interface Errors {
  credits?: string;
  reason?: string;
  userId?: string;
}

function validate(credits: string, reason: string, userId: string): Errors {
  const errors: Errors = {};
  const amount = Number(credits);
  if (!/^\d+$/.test(credits.trim()) || amount <= 0) errors.credits = "Enter a whole number of credits above 0.";
  else if (amount > creditNoteCreditsMax) errors.credits = `At most ${creditNoteCreditsMax.toLocaleString("en-US")} credits per note.`;
  if (reason.trim() === "") errors.reason = "Give the reason for the credit note.";
  else if (reason.trim().length > descriptionLengthMax) errors.reason = `At most ${descriptionLengthMax} characters.`;
  const why = userId.trim() === "" ? undefined : explainNotUuid(userId.trim());
  if (why) errors.userId = `The user id ${why}.`;
  return errors;
}

export function CreditNoteForm({ attributionId, onAdded }: { attributionId: string; onAdded: () => void }) {
  const [direction, setDirection] = useState<"add" | "subtract">("add");
  const [credits, setCredits] = useState("");
  const [reason, setReason] = useState("");
  const [userId, setUserId] = useState("");
  const [errors, setErrors] = useState<Errors>({});
  const [status, setStatus] = useState<{ kind: "idle" | "busy" | "done" | "failed"; message?: string }>({ kind: "idle" });
  const [key] = useState(actionKey);

  const submit = async (event: Event) => {
    event.preventDefault();
    const found = validate(credits, reason, userId);
    setErrors(found);
    if (Object.keys(found).length > 0) return;
    setStatus({ kind: "busy" });
    try {
      const amount = Number(credits);
      const request = { attributionId, credits: direction === "subtract" ? -amount : amount, description: reason.trim(), userId: userId.trim() };
      await usageClient.addUsageCreditNote(request, key.options(request));
      key.done();
      setCredits("");
      setReason("");
      setUserId("");
      setStatus({
        kind: "done",
        message: `${direction === "subtract" ? "Subtracted" : "Added"} ${amount.toLocaleString("en-US")} credits.`,
      });
      onAdded();
    } catch (error) {
      setStatus({ kind: "failed", message: describeError(error) });
    }
  };

  const field = (name: keyof Errors) => ({
    "aria-invalid": errors[name] ? ("true" as const) : ("false" as const),
    "aria-describedby": errors[name] ? `credit-${name}-error` : undefined,
  });
  const fieldError = (name: keyof Errors) =>
    errors[name] && (
      <p id={`credit-${name}-error`} class="field-error">
        {errors[name]}
      </p>
    );

  return (
    <form class="credit-form" onSubmit={submit} noValidate aria-labelledby="credit-note-title">
      <fieldset class="segmented">
        <legend class="visually-hidden">Add or subtract</legend>
        <label class={`segmented__option${direction === "add" ? " segmented__option--on" : ""}`}>
          <input type="radio" name="credit-direction" value="add" checked={direction === "add"} onChange={() => setDirection("add")} />
          Add credits
        </label>
        <label class={`segmented__option${direction === "subtract" ? " segmented__option--on" : ""}`}>
          <input type="radio" name="credit-direction" value="subtract" checked={direction === "subtract"} onChange={() => setDirection("subtract")} />
          Subtract credits
        </label>
      </fieldset>
      <p class="field-hint credit-form__hint">
        {direction === "add" ? "Lowers the balance: credit given back." : "Raises the balance: credit taken back (a negative credit note)."}
      </p>
      <div class="field">
        <label for="credit-credits">Credits</label>
        <input
          id="credit-credits"
          class="input"
          type="number"
          inputMode="numeric"
          min={1}
          max={creditNoteCreditsMax}
          step={1}
          value={credits}
          onInput={(e) => setCredits(e.currentTarget.value)}
          {...field("credits")}
        />
        {fieldError("credits")}
      </div>
      <div class="field">
        <label for="credit-reason">Reason</label>
        <textarea
          id="credit-reason"
          class="input"
          rows={2}
          maxLength={descriptionLengthMax}
          value={reason}
          onInput={(e) => setReason(e.currentTarget.value)}
          {...field("reason")}
        />
        {fieldError("reason")}
      </div>
      <div class="field">
        <label for="credit-user">
          User id <span class="optional">(optional)</span>
        </label>
        <input id="credit-user" class="input" type="text" spellcheck={false} value={userId} onInput={(e) => setUserId(e.currentTarget.value)} {...field("userId")} />
        {fieldError("userId")}
      </div>
      <div class="form-actions">
        <button class="button button--primary" type="submit" disabled={status.kind === "busy"}>
          {status.kind === "busy" ? "Booking…" : direction === "add" ? "Add credits" : "Subtract credits"}
        </button>
        <p class={`form-status form-status--${status.kind}`} role="status" aria-live="polite">
          {status.message ?? ""}
        </p>
      </div>
    </form>
  );
}
