// The API token (TALLY_API_TOKENS on the server), sent as "Authorization: Bearer" on every call.
import { useRef, useState } from "preact/hooks";
import { apiToken } from "../api.js";

export function TokenPanel({ onChange }: { onChange: () => void }) {
  const [open, setOpen] = useState(false);
  const [hasToken, setHasToken] = useState(apiToken.get() !== "");
  const input = useRef<HTMLInputElement>(null);
  const toggle = useRef<HTMLButtonElement>(null);
  const close = () => {
    setOpen(false);
    toggle.current?.focus();
  };
  const save = (event: Event) => {
    event.preventDefault();
    const token = input.current?.value.trim() ?? "";
    if (token) apiToken.set(token);
    else apiToken.clear();
    setHasToken(token !== "");
    close();
    onChange();
  };
  const clear = () => {
    apiToken.clear();
    setHasToken(false);
    close();
    onChange();
  };
  return (
    <div class="token">
      <button
        type="button"
        class="button button--header"
        aria-expanded={open}
        aria-controls="token-form"
        ref={toggle}
        onClick={() => setOpen(!open)}
      >
        API token: {hasToken ? "set" : "none"}
      </button>
      {open && (
        <form id="token-form" class="token__form card" onSubmit={save} onKeyDown={(e) => e.key === "Escape" && close()}>
          <label for="api-token">Bearer token</label>
          <input id="api-token" class="input" type="password" autocomplete="off" defaultValue={apiToken.get()} ref={input} autoFocus />
          <p class="field-hint">Kept in this tab only (sessionStorage) and sent with every API call.</p>
          <div class="form-actions">
            <button type="submit" class="button button--primary">
              Save
            </button>
            <button type="button" class="button button--quiet" onClick={clear}>
              Clear
            </button>
          </div>
        </form>
      )}
    </div>
  );
}
