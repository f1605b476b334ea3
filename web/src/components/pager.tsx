// Previous/next paging with the page size, for the tables.
export const pageSizes = [20, 50, 100] as const;

export function Pager(props: {
  label: string;
  page: number;
  totalPages: number;
  perPage: number;
  onPage: (page: number) => void;
  onPerPage?: (perPage: number) => void;
}) {
  const { page, totalPages } = props;
  return (
    <nav class="pager" aria-label={props.label}>
      <button type="button" class="button button--quiet" disabled={page <= 1} onClick={() => props.onPage(page - 1)}>
        ‹ Previous
      </button>
      <span class="pager__position" aria-live="polite">
        Page {totalPages === 0 ? 0 : page} of {totalPages}
      </span>
      <button type="button" class="button button--quiet" disabled={page >= totalPages} onClick={() => props.onPage(page + 1)}>
        Next ›
      </button>
      {props.onPerPage && (
        <label class="pager__size">
          Per page
          <select value={String(props.perPage)} onChange={(e) => props.onPerPage!(Number(e.currentTarget.value))}>
            {pageSizes.map((size) => (
              <option key={size} value={String(size)}>
                {size}
              </option>
            ))}
          </select>
        </label>
      )}
    </nav>
  );
}
