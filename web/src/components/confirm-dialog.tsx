// The confirmation shown in place before a change (a spending limit, an endpoint's removal or
// secret rotation): a title naming the dialog, what the change does line by line, and its button
// next to Cancel, both disabled while the change is under way.
import type { ComponentChildren } from "preact";

export function ConfirmDialog(props: {
  /** Prefix of the title's and the lines' element ids (`${id}-title`, `${id}-lines`). */
  id: string;
  title: string;
  /** The `<li>` lines saying what the change does. */
  children: ComponentChildren;
  confirmLabel: string;
  /** The button's text while the change is under way, e.g. "Saving…". */
  busyLabel: string;
  busy: boolean;
  /** A change that removes something: the button is red. */
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  return (
    <div class="confirm" role="alertdialog" aria-labelledby={`${props.id}-title`} aria-describedby={`${props.id}-lines`}>
      <p id={`${props.id}-title`} class="confirm__title">
        {props.title}
      </p>
      <ul id={`${props.id}-lines`} class="confirm__lines">
        {props.children}
      </ul>
      <div class="form-actions">
        <button type="button" class={`button ${props.danger ? "button--danger" : "button--primary"}`} disabled={props.busy} onClick={props.onConfirm}>
          {props.busy ? props.busyLabel : props.confirmLabel}
        </button>
        <button type="button" class="button" disabled={props.busy} onClick={props.onCancel}>
          Cancel
        </button>
      </div>
    </div>
  );
}
