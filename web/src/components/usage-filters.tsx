// The time range (UTC days, both ends included) and user filter shared by the chart and the table.
import { useState } from "preact/hooks";
import { timestampFromDate, type Timestamp } from "@bufbuild/protobuf/wkt";
import { explainNotUuid } from "../../../src/domain/uuid.js";
import { dayMs, parseDay } from "../format.js";
import { rangeDaysMax } from "../limits.js";

export interface UsageFilter {
  /** First day, "YYYY-MM-DD" (UTC). */
  readonly from: string;
  /** Last day, included. */
  readonly to: string;
  readonly userId: string;
}

/** The filter as the API takes it: [from, to) with `to` the midnight after the last day. */
export function filterRange(filter: UsageFilter): { from: Timestamp; to: Timestamp; fromDate: Date; toDate: Date } {
  const fromDate = parseDay(filter.from)!;
  const toDate = new Date(parseDay(filter.to)!.getTime() + dayMs);
  return { from: timestampFromDate(fromDate), to: timestampFromDate(toDate), fromDate, toDate };
}

function validate(draft: UsageFilter): string | undefined {
  const from = parseDay(draft.from);
  const to = parseDay(draft.to);
  if (!from) return "Enter the first day.";
  if (!to) return "Enter the last day.";
  if (from > to) return "The first day must not be after the last day.";
  if ((to.getTime() - from.getTime()) / dayMs + 1 > rangeDaysMax) return `The range may span at most ${rangeDaysMax} days.`;
  const why = draft.userId.trim() === "" ? undefined : explainNotUuid(draft.userId.trim());
  if (why) return `The user id ${why}.`;
  return undefined;
}

export function UsageFilters({ value, onApply }: { value: UsageFilter; onApply: (filter: UsageFilter) => void }) {
  const [draft, setDraft] = useState(value);
  const [error, setError] = useState<string | undefined>();
  const submit = (event: Event) => {
    event.preventDefault();
    const problem = validate(draft);
    setError(problem);
    if (!problem) onApply({ ...draft, userId: draft.userId.trim().toLowerCase() });
  };
  return (
    <form class="filters" onSubmit={submit} noValidate aria-label="Usage filters">
      <div class="field">
        <label for="filter-from">From (UTC)</label>
        <input id="filter-from" class="input" type="date" value={draft.from} onInput={(e) => setDraft({ ...draft, from: e.currentTarget.value })} />
      </div>
      <div class="field">
        <label for="filter-to">To (UTC, included)</label>
        <input id="filter-to" class="input" type="date" value={draft.to} onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })} />
      </div>
      <div class="field field--grow">
        <label for="filter-user">User id</label>
        <input
          id="filter-user"
          class="input"
          type="text"
          spellcheck={false}
          placeholder="all users"
          value={draft.userId}
          onInput={(e) => setDraft({ ...draft, userId: e.currentTarget.value })}
        />
      </div>
      <button class="button" type="submit">
        Apply
      </button>
      {error && (
        <p class="field-error filters__error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
