// What a card shows while its first answer is on the way: grey lines where the content will be,
// announced as loading, so a card is never just empty.
export function Loading({ lines = 3, label = "Loading…" }: { lines?: number; label?: string }) {
  return (
    <div class="loading" role="status" aria-live="polite">
      <span class="visually-hidden">{label}</span>
      {Array.from({ length: lines }, (_, i) => (
        <span key={i} class="loading__line" style={{ width: `${90 - ((i * 23) % 40)}%` }} aria-hidden="true" />
      ))}
    </div>
  );
}
