// Loads remote data for a component: re-runs when `deps` change, cancels stale requests.
import { useCallback, useEffect, useState } from "preact/hooks";
import { describeError, isAbort } from "./api.js";

export interface Remote<T> {
  readonly data: T | undefined;
  readonly error: string | undefined;
  readonly loading: boolean;
  reload(): void;
}

export function useRemote<T>(load: (signal: AbortSignal) => Promise<T>, deps: readonly unknown[]): Remote<T> {
  const [state, setState] = useState<{ data?: T; error?: string; loading: boolean }>({ loading: true });
  const [generation, setGeneration] = useState(0);
  useEffect(() => {
    const controller = new AbortController();
    setState((previous) => ({ data: previous.data, loading: true }));
    load(controller.signal).then(
      (data) => !controller.signal.aborted && setState({ data, loading: false }),
      (error: unknown) => {
        if (controller.signal.aborted || isAbort(error)) return;
        setState({ error: describeError(error), loading: false });
      },
    );
    return () => controller.abort();
    // `load` is a new closure on every render; `deps` say when it loads something else.
  }, [...deps, generation]);
  // Loading from the reload's own render on: a caller that reloads and then reads `loading` and `data`
  // (to follow a change until it settles) never takes the data from before the reload as the answer.
  const reload = useCallback(() => {
    setState((previous) => ({ ...previous, loading: true }));
    setGeneration((g) => g + 1);
  }, []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}
