// Find an attribution id; validated with the server's own rules before any request.
import { useState } from "preact/hooks";
import { parseAttributionId } from "../../../src/domain/attribution-id.js";

export function SearchForm({ initial, onFind }: { initial: string; onFind: (attributionId: string) => void }) {
  const [value, setValue] = useState(initial);
  const [error, setError] = useState<string | undefined>();
  const submit = (event: Event) => {
    event.preventDefault();
    try {
      const parsed = parseAttributionId(value.trim(), "attribution id");
      setError(undefined);
      setValue(parsed.text);
      onFind(parsed.text);
    } catch (failure) {
      setError((failure as Error).message);
    }
  };
  return (
    <form class="search" role="search" onSubmit={submit} noValidate>
      <label class="search__label" for="attribution-id">
        Attribution id
      </label>
      <div class="search__row">
        <input
          id="attribution-id"
          name="attributionId"
          class="input search__input"
          type="text"
          autocomplete="off"
          spellcheck={false}
          placeholder="team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717"
          value={value}
          aria-invalid={error ? "true" : "false"}
          aria-describedby={error ? "attribution-id-error" : "attribution-id-hint"}
          onInput={(e) => setValue(e.currentTarget.value)}
        />
        <button class="button button--primary" type="submit">
          Look up
        </button>
      </div>
      {error ? (
        <p id="attribution-id-error" class="field-error" role="alert">
          {error}
        </p>
      ) : (
        <p id="attribution-id-hint" class="field-hint">
          <code>team:&lt;uuid&gt;</code> or <code>user:&lt;uuid&gt;</code>
        </p>
      )}
    </form>
  );
}
