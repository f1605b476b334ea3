// API tokens: who may call Tally. Parsed from TALLY_API_TOKENS ("name:role:token,..."), verified
// in constant time. Without tokens (only with TALLY_AUTH=off), every caller is "anonymous".
import { createHash, timingSafeEqual } from "node:crypto";

export type Role = "admin" | "reader";

export interface Identity {
  /** The token's name: the actor in audit rows and logs. */
  readonly name: string;
  readonly role: Role;
}

export interface ApiToken extends Identity {
  /** SHA-256 of the token; the token itself is not kept. */
  readonly sha256: Buffer;
}

/** Short tokens can be guessed; 16 characters of a random string is the least we accept. */
export const tokenLengthMin = 16;
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const sha256Prefix = "sha256:";

export class ApiTokenError extends Error {
  override readonly name = "ApiTokenError";
}

/**
 * Parses `name:role:token` entries separated by commas (whitespace around entries is ignored).
 * The token may be given as `sha256:<64 hex digits>` (its hash) so the configuration need not hold
 * the secret itself. Names and tokens must be unique.
 */
export function parseApiTokens(text: string, key = "TALLY_API_TOKENS"): ApiToken[] {
  const entries = text.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  if (entries.length === 0) {
    throw new ApiTokenError(
      `${key} is set but holds no tokens; expected name:role:token,... (to run without access control, unset it and set TALLY_AUTH=off)`,
    );
  }
  const tokens = entries.map((entry, index) => parseEntry(entry, `${key} entry ${index + 1}`));
  const names = new Set<string>();
  const hashes = new Set<string>();
  for (const token of tokens) {
    if (names.has(token.name)) throw new ApiTokenError(`${key}: the name "${token.name}" is used twice; names must be unique`);
    names.add(token.name);
    const hash = token.sha256.toString("hex");
    if (hashes.has(hash)) throw new ApiTokenError(`${key}: the token of "${token.name}" is also used by another entry`);
    hashes.add(hash);
  }
  return tokens;
}

function parseEntry(entry: string, where: string): ApiToken {
  const first = entry.indexOf(":");
  const second = first < 0 ? -1 : entry.indexOf(":", first + 1);
  if (second < 0) throw new ApiTokenError(`${where} is not name:role:token`);
  const name = entry.slice(0, first);
  const role = entry.slice(first + 1, second);
  const secret = entry.slice(second + 1);
  if (!namePattern.test(name)) {
    throw new ApiTokenError(`${where}: name "${name}" must be 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  if (role !== "admin" && role !== "reader") throw new ApiTokenError(`${where} (${name}): role "${role}" must be admin or reader`);
  if (secret.startsWith(sha256Prefix)) {
    const hex = secret.slice(sha256Prefix.length);
    if (!/^[0-9a-f]{64}$/i.test(hex)) throw new ApiTokenError(`${where} (${name}): a sha256: token must be 64 hex digits`);
    return { name, role, sha256: Buffer.from(hex, "hex") };
  }
  if (secret.length < tokenLengthMin) {
    throw new ApiTokenError(`${where} (${name}): the token is ${secret.length} characters long, at least ${tokenLengthMin} required`);
  }
  return { name, role, sha256: sha256(secret) };
}

function sha256(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

/**
 * The identity a presented token belongs to, or undefined. Compares fixed-length hashes with
 * timingSafeEqual and always checks every configured token, so the time taken reveals neither how
 * much of a token matched nor which entry did.
 */
export function verifyToken(tokens: readonly ApiToken[], presented: string): Identity | undefined {
  const hash = sha256(presented);
  let found: ApiToken | undefined;
  for (const token of tokens) {
    if (timingSafeEqual(token.sha256, hash) && !found) found = token;
  }
  return found ? { name: found.name, role: found.role } : undefined;
}

/** The token from an `Authorization: Bearer <token>` header value; undefined when absent or malformed. */
export function bearerToken(authorization: string | null | undefined): string | undefined {
  if (!authorization) return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(authorization);
  return match?.[1];
}
