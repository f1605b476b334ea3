// Stripe's request encoding: application/x-www-form-urlencoded with bracketed keys, as the SDK sends
// them (`metadata[attributionId]=x`, `items[0][price]=p`, `expand[0]=tax`). Parsed into plain objects
// and arrays; every leaf stays a string, as on the wire.
export type FormValue = string | FormValue[] | { [key: string]: FormValue };
export type FormObject = { [key: string]: FormValue };

export function parseForm(text: string): FormObject {
  const root: FormObject = {};
  for (const [rawKey, value] of new URLSearchParams(text)) {
    const path = keyPath(rawKey);
    if (path.length === 0) continue;
    assign(root, path, value);
  }
  return root;
}

/** "a[b][0][c]" -> ["a", "b", "0", "c"]; "expand[]" -> ["expand", ""]. */
function keyPath(key: string): string[] {
  const first = key.indexOf("[");
  if (first < 0) return [key];
  const path = [key.slice(0, first)];
  const pattern = /\[([^\]]*)\]/g;
  pattern.lastIndex = first;
  for (let match = pattern.exec(key); match; match = pattern.exec(key)) path.push(match[1]!);
  return path;
}

function assign(container: FormObject | FormValue[], path: string[], value: string): void {
  const [head, ...rest] = path as [string, ...string[]];
  const isIndex = (segment: string | undefined) => segment === "" || (segment !== undefined && /^\d+$/.test(segment));
  if (Array.isArray(container)) {
    const index = head === "" ? container.length : Number(head);
    if (rest.length === 0) {
      container[index] = value;
      return;
    }
    container[index] ??= isIndex(rest[0]) ? [] : {};
    assign(container[index] as FormObject | FormValue[], rest, value);
    return;
  }
  if (rest.length === 0) {
    container[head] = value;
    return;
  }
  if (typeof container[head] !== "object") container[head] = isIndex(rest[0]) ? [] : {};
  assign(container[head] as FormObject | FormValue[], rest, value);
}
