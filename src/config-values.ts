// The kinds of value a configuration key can hold, as zod schemas. Each accepts both forms a value
// arrives in: the text of an environment variable and the JSON value of the config file. Issue
// messages are phrased to follow "<key> <value>", e.g. `ledgerInterval "soon" is not a duration ...`.
import { z } from "zod";
import { ApiTokenError, parseApiTokens, type ApiToken } from "./access/api-tokens.js";
import { ConfigError } from "./config-error.js";
import { TallyError } from "./domain/tally-error.js";

export interface ValueKind<T> {
  readonly schema: z.ZodType<T>;
  /** For the README's configuration table: what the value looks like. */
  readonly type: string;
  /** How `tally config check` shows a value; secrets are never shown. */
  readonly display?: (value: T) => string;
}

/** A message that is a whole sentence already (it names the key itself): printed without "<key> <value>". */
export const wholeMessage = { whole: true } as const;

function custom(ctx: z.RefinementCtx, message: string, params?: Record<string, unknown>): typeof z.NEVER {
  ctx.addIssue({ code: "custom", message, ...(params ? { params } : {}) });
  return z.NEVER;
}

/** Non-empty text (surrounding whitespace removed). */
export function text(type = "text"): ValueKind<string> {
  return { type, schema: z.string({ error: "must be text" }).trim().min(1, "must not be empty") };
}

/** A whole number in [min, max], from a JSON number or decimal text. */
export function integer(min: number, max: number, type = `integer ${min} to ${max}`): ValueKind<number> {
  const range = `must be between ${min} and ${max}`;
  const fromText = z.string().trim().regex(/^[+-]?\d+$/).transform(Number);
  return {
    type,
    schema: z
      .union([z.number(), fromText], { error: "must be an integer" })
      .pipe(z.number().int({ error: "must be an integer" }).min(min, range).max(max, range)),
  };
}

const switchWords: Readonly<Record<string, boolean>> = { on: true, true: true, yes: true, "1": true, off: false, false: false, no: false, "0": false };

/** On or off: a JSON boolean or one of on/off, true/false, yes/no, 1/0. Anything else is refused, never read as on. */
export function onOff(): ValueKind<boolean> {
  const fromText = z
    .string()
    .trim()
    .toLowerCase()
    .refine((word) => word in switchWords)
    .transform((word) => switchWords[word]!);
  return {
    type: "`on` or `off`",
    schema: z.union([z.boolean(), fromText], { error: "must be on or off (also true/false, yes/no, 1/0)" }),
    display: (value) => (value ? "on" : "off"),
  };
}

/** One of a fixed set of words, case-insensitive. */
export function oneOf<const W extends readonly [string, ...string[]]>(words: W): ValueKind<W[number]> {
  const message = `must be one of ${words.join(", ")}`;
  return {
    type: words.map((word) => `\`${word}\``).join(", "),
    schema: z.string({ error: message }).trim().toLowerCase().pipe(z.enum(words, { error: message })),
  };
}

const durationUnitsMs: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations: "90s", "1m", "1h30m", "250ms"; undefined when the text is not one. */
export function durationMs(text: string): number | undefined {
  const trimmed = text.trim();
  const pattern = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let match = pattern.exec(trimmed); match; match = pattern.exec(trimmed)) {
    total += Number(match[1]) * durationUnitsMs[match[2]!]!;
    matched = pattern.lastIndex;
  }
  if (trimmed === "" || matched !== trimmed.length) return undefined;
  return Math.round(total);
}

function formatDuration(ms: number): string {
  const units: [string, number][] = [["h", 3_600_000], ["m", 60_000], ["s", 1000], ["ms", 1]];
  let rest = ms;
  let out = "";
  for (const [unit, size] of units) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out || "0s";
}

/** A Go-style duration of at least `minMs`, in milliseconds. */
export function duration(minMs = 1000): ValueKind<number> {
  const notDuration = 'is not a duration like "90s", "1m" or "1h30m"';
  return {
    type: `duration (\`90s\`, \`1m\`, \`1h30m\`), at least ${formatDuration(minMs)}`,
    schema: z.string({ error: notDuration }).transform((text, ctx) => {
      const ms = durationMs(text);
      if (ms === undefined) return custom(ctx, notDuration);
      if (ms < minMs) return custom(ctx, `must be at least ${formatDuration(minMs)}`);
      return ms;
    }),
    display: formatDuration,
  };
}

/** A URL with one of the given protocols (e.g. ["postgres:", "postgresql:"]); a password in it is never shown. */
export function url(protocols: readonly string[], example: string): ValueKind<string> {
  const message = `must be a URL like ${example}`;
  return {
    type: `URL (${protocols.map((protocol) => `\`${protocol}//\``).join(" or ")})`,
    schema: z
      .string({ error: message })
      .trim()
      .refine((text) => {
        try {
          return protocols.includes(new URL(text).protocol);
        } catch {
          return false;
        }
      }, message),
    display: (value) => {
      const parsed = new URL(value);
      if (parsed.password) parsed.password = "****";
      return parsed.toString();
    },
  };
}

/** A JSON object of name -> non-negative number: a JSON object in the file, its JSON text in the environment. */
export function numberMap(type: string): ValueKind<Record<string, number>> {
  const message = "must be a JSON object of name -> non-negative number";
  const map = z.record(z.string().min(1, "has an empty name"), z.number({ error: "must be a number" }).finite().nonnegative("must not be negative"), {
    error: message,
  });
  // Text (from the environment) is parsed as JSON first; the object then goes through the same check.
  const fromJsonText = z.unknown().transform((value, ctx) => {
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value) as unknown;
    } catch {
      return custom(ctx, message);
    }
  });
  return {
    type,
    schema: fromJsonText.pipe(map),
    display: (value) => JSON.stringify(value),
  };
}

/** API tokens, `name:role:token,...` (see access/api-tokens.ts). */
export function apiTokens(): ValueKind<readonly ApiToken[]> {
  return {
    type: "`name:role:token,...`",
    schema: z.string({ error: "must be text: name:role:token,..." }).transform((text, ctx) => {
      try {
        return parseApiTokens(text, "apiTokens");
      } catch (error) {
        if (error instanceof ApiTokenError) return custom(ctx, error.message, wholeMessage);
        throw error;
      }
    }),
    display: (tokens) => tokens.map((token) => `${token.name}:${token.role}:****`).join(","),
  };
}

/**
 * A kind checked by a rule of the domain (or of config.ts): the rule's error message, which names
 * the key itself (`limitWarningPercent 100 must be ...`), is the message.
 */
export function ruled<T, U>(base: ValueKind<T>, type: string, rule: (value: T) => U, display?: (value: U) => string): ValueKind<U> {
  return {
    type,
    schema: base.schema.transform((value, ctx) => {
      try {
        return rule(value);
      } catch (error) {
        if (error instanceof TallyError || error instanceof ConfigError) return custom(ctx, error.message, wholeMessage);
        throw error;
      }
    }),
    ...(display ? { display } : {}),
  };
}

/** Any JSON value: itself in the file, its JSON text in the environment. */
export function json(): ValueKind<unknown> {
  return {
    type: "JSON",
    schema: z.unknown().transform((value, ctx) => {
      if (typeof value !== "string") return value;
      try {
        return JSON.parse(value) as unknown;
      } catch {
        return custom(ctx, "is not JSON text");
      }
    }),
  };
}
