// Standard Webhooks signing (https://www.standardwebhooks.com): the few lines of HMAC the spec asks
// for, on node:crypto, rather than the `standardwebhooks` package (which brings two small crypto
// dependencies for the same lines). The tests verify these signatures with that package, so the two
// must agree.
import { createHmac, randomBytes } from "node:crypto";
import { endpointSecretPrefix } from "../domain/event-endpoint.js";

/** Bytes of a generated secret's key (the spec allows 24 to 64). */
export const generatedSecretBytes = 32;

export function generateSecret(): string {
  return endpointSecretPrefix + randomBytes(generatedSecretBytes).toString("base64");
}

/** `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the key the secret encodes. */
export function sign(secret: string, webhookId: string, timestampSeconds: number, body: string): string {
  const key = Buffer.from(secret.slice(endpointSecretPrefix.length), "base64");
  return `v1,${createHmac("sha256", key).update(`${webhookId}.${timestampSeconds}.${body}`).digest("base64")}`;
}

/** The three headers of one delivery attempt: one signature per valid secret, space-separated. */
export function webhookHeaders(
  secrets: readonly string[],
  webhookId: string,
  timestampSeconds: number,
  body: string,
): Record<"webhook-id" | "webhook-timestamp" | "webhook-signature", string> {
  return {
    "webhook-id": webhookId,
    "webhook-timestamp": String(timestampSeconds),
    "webhook-signature": secrets.map((secret) => sign(secret, webhookId, timestampSeconds, body)).join(" "),
  };
}
