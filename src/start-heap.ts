// The server's JavaScript heap during its start.
import v8 from "node:v8";

/** V8's default (Node 20-24): a semi-space doubles when it grows. */
const defaultSemiSpaceGrowthFactor = 2;

/**
 * Keeps V8's young generation at its initial size while the server starts; call the returned
 * function once it serves. The young generation (two semi-spaces, 1 MB each at first) doubles, up to
 * 16 MB each, whenever a scavenge finds much of it still alive, and only shrinks again when V8's
 * memory reducer runs (after seconds to minutes of idleness; on a restarted server not within 30 s
 * in our measurements). A start is exactly such a burst of long-lived allocations (the modules,
 * PGlite's data bundle and WASM glue, the migrations), so by the time Tally served, the young
 * generation had grown to 32 MB, 26-32 MB of it resident and 1-10 MB in use: a sixth of the
 * embedded server's idle memory (measured 185 MB idle at a first start, 165-170 MB after a restart;
 * with the growth held: 148-153 MB). Once the server serves, growth is V8's default again, so a
 * server under load gets the young generation it asks for (the benchmarks run with the default).
 * Only the growth factor can change after V8 has started (its maximum, --max-semi-space-size, is
 * fixed when the heap is made).
 */
export function holdYoungGenerationDuringStart(): () => void {
  v8.setFlagsFromString("--semi-space-growth-factor=1");
  return () => v8.setFlagsFromString(`--semi-space-growth-factor=${defaultSemiSpaceGrowthFactor}`);
}
