// Webhook endpoints: the rules for their URL, description and secret, and the delivery schedule.
import { invalidArgument } from "./tally-error.js";
import { explainNotUuid } from "./uuid.js";

/** Endpoints registered at once (API and configuration together): each event fans out to all. */
export const endpointsMax = 100;
export const endpointUrlLengthMax = 2048;
export const endpointDescriptionLengthMax = 1000;
/** Standard Webhooks: "whsec_" and the base64 of a key of 24 to 64 bytes. */
export const endpointSecretPrefix = "whsec_";
export const endpointSecretBytesMin = 24;
export const endpointSecretBytesMax = 64;
/** After a rotation, deliveries are signed with the previous secret too for this long. */
export const previousSecretValidityMs = 24 * 60 * 60 * 1000;

/** Attempts before a delivery is given up (about a day with the schedule below). */
export const deliveryAttemptsMax = 30;
export const deliveryRetryDelayMsMin = 5_000;
export const deliveryRetryDelayMsMax = 60 * 60_000;

/** After the n-th failed attempt: 5 s, 10 s, 20 s, ... capped at 1 h. */
export function deliveryRetryDelayMs(attempts: number): number {
  const exponent = Math.min(Math.max(attempts - 1, 0), 30);
  return Math.min(deliveryRetryDelayMsMin * 2 ** exponent, deliveryRetryDelayMsMax);
}

/** An endpoint from the configuration (eventEndpoints), already validated. */
export interface ConfiguredEndpoint {
  /** config:<name> */
  readonly id: string;
  readonly url: string;
  readonly description: string;
  readonly eventTypes: readonly string[];
  readonly secret: string;
}

export function parseEndpointUrl(value: string, field = "url"): string {
  const text = value.trim();
  if (text === "") throw invalidArgument(`${field} is required`);
  if (text.length > endpointUrlLengthMax) throw invalidArgument(`${field} is longer than ${endpointUrlLengthMax} characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalidArgument(`${field} ${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw invalidArgument(`${field} ${JSON.stringify(text)} must start with http:// or https://`);
  }
  return url.toString();
}

export function parseEndpointDescription(value: string, field = "description"): string {
  const text = value.trim();
  if (text.length > endpointDescriptionLengthMax) {
    throw invalidArgument(`${field} is longer than ${endpointDescriptionLengthMax} characters`);
  }
  return text;
}

/** A secret as Standard Webhooks writes it: whsec_ and standard base64 of 24 to 64 bytes. */
export function parseEndpointSecret(value: string, field = "secret"): string {
  const fail = (rule: string) => invalidArgument(`${field} must be ${rule} (the value is not shown)`);
  if (!value.startsWith(endpointSecretPrefix)) throw fail(`"${endpointSecretPrefix}" followed by base64`);
  const encoded = value.slice(endpointSecretPrefix.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 !== 0) throw fail(`"${endpointSecretPrefix}" followed by standard base64`);
  const bytes = (encoded.length / 4) * 3 - (encoded.match(/=+$/)?.[0].length ?? 0);
  if (bytes < endpointSecretBytesMin || bytes > endpointSecretBytesMax) {
    throw fail(`the base64 of ${endpointSecretBytesMin} to ${endpointSecretBytesMax} bytes, not ${bytes}`);
  }
  return value;
}

/** Endpoint ids are UUIDs for endpoints added through the API, "config:<name>" for configured ones. */
export const configEndpointIdPattern = /^config:[a-z0-9][a-z0-9._-]{0,62}$/;

export function parseEndpointId(value: string, field = "endpoint_id"): string {
  const text = value.trim().toLowerCase();
  if (text === "") throw invalidArgument(`${field} is required`);
  if (explainNotUuid(text) !== undefined && !configEndpointIdPattern.test(text)) {
    throw invalidArgument(`${field} ${JSON.stringify(value.slice(0, 100))} is not an endpoint id (a UUID, or config:<name>)`);
  }
  return text;
}
