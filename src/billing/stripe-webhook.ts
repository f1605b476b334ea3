// POST /webhooks/stripe: verifies the Stripe-Signature with the SDK, stores the event in the inbox
// (keyed by event id) and only then answers 2xx. Processing happens later, in the inbox worker: a
// webhook is never acted on inline. A bad signature stores nothing and answers 400.
import Stripe from "stripe";
import { nestsDeeperThan, storableJson, storableText, type Json } from "../domain/audit-details.js";
import type { Clock } from "../domain/clock.js";
import type { Logger } from "../logger.js";
import { sendJson, type HttpRoute, type Request } from "../server.js";
import type { Database } from "../store/database.js";
import { insertInboxEvent } from "../store/webhook-inbox.js";

export const stripeWebhookPath = "/webhooks/stripe";
/** Stripe's events are a few KiB; anything near this is not from Stripe. */
export const webhookBodyBytesMax = 1024 * 1024;
/** Deepest nesting of objects and arrays stored; Stripe's events nest a handful of levels. */
export const webhookDepthMax = 64;
/**
 * Signatures older than this are refused (replays), as Stripe recommends; so are signatures dated
 * more than this in the future (the SDK only checks the age: a future timestamp would make a
 * captured request replayable until then).
 */
export const webhookToleranceSeconds = 300;

/** The `t=` of a Stripe-Signature header as the SDK reads it (the last one, parseInt); NaN without one. */
export function signatureTimestampSeconds(header: string): number {
  let timestamp = Number.NaN;
  for (const item of header.split(",")) {
    const [key, value] = item.split("=");
    if (key === "t") timestamp = Number.parseInt(value ?? "", 10);
  }
  return timestamp;
}

/** The event types Tally acts on; every other type is acknowledged and recorded as ignored. */
export const handledEventTypes = new Set([
  "invoice.finalized",
  "customer.subscription.deleted",
  "charge.dispute.created",
  "customer.updated",
]);

export interface StripeWebhookEvent {
  readonly id: string;
  readonly type: string;
  readonly data: { readonly object: { readonly id?: unknown } };
}

/** Stores a verified event; false when its id was stored before (a redelivery changes nothing). */
export async function storeWebhookEvent(db: Database, event: StripeWebhookEvent, now: Date): Promise<boolean> {
  const objectId = typeof event.data.object.id === "string" ? event.data.object.id : "";
  return insertInboxEvent(
    db,
    {
      eventId: event.id,
      type: event.type,
      objectId,
      payload: event as unknown as Record<string, unknown>,
      status: handledEventTypes.has(event.type) && objectId !== "" ? "pending" : "ignored",
    },
    now,
  );
}

export interface StripeWebhookRouteDeps {
  readonly db: Database;
  readonly clock: Clock;
  readonly logger: Logger;
  /** undefined: billing is off (404); "": billing is on but the secret is missing (503, so Stripe retries). */
  readonly webhookSecret: string | undefined;
  /** Called after a new event was stored, to wake the inbox worker. */
  readonly onStored: () => void;
}

export function stripeWebhookRoute(deps: StripeWebhookRouteDeps): HttpRoute {
  return async (request, response) => {
    if (pathOf(request.url) !== stripeWebhookPath) return false;
    if (request.method !== "POST") {
      (response as { setHeader(name: string, value: string): void }).setHeader("allow", "POST");
      sendJson(response, 405, { error: `use POST for ${stripeWebhookPath}` });
      return true;
    }
    if (deps.webhookSecret === undefined) {
      sendJson(response, 404, { error: "billing is not configured: Stripe webhooks are off" });
      return true;
    }
    if (deps.webhookSecret === "") {
      deps.logger.error("a Stripe webhook arrived but STRIPE_WEBHOOK_SECRET is not set: it cannot be verified");
      sendJson(response, 503, { error: "the webhook secret is not configured" });
      return true;
    }
    const body = await readBody(request, webhookBodyBytesMax);
    if (body === "too large") {
      sendJson(response, 413, { error: `body larger than ${webhookBodyBytesMax} bytes` });
      return true;
    }
    const signature = request.headers["stripe-signature"];
    if (typeof signature !== "string" || signature === "") {
      sendJson(response, 400, { error: "missing Stripe-Signature header" });
      return true;
    }
    let event: StripeWebhookEvent;
    try {
      const now = deps.clock.now().getTime();
      event = Stripe.webhooks.constructEvent(body, signature, deps.webhookSecret, webhookToleranceSeconds, undefined, now) as unknown as StripeWebhookEvent;
      const aheadSeconds = signatureTimestampSeconds(signature) - Math.floor(now / 1000);
      if (!(aheadSeconds <= webhookToleranceSeconds)) {
        throw new Error(`Timestamp outside the tolerance zone: signed ${aheadSeconds} s in the future`);
      }
    } catch (error) {
      deps.logger.warn({ err: String(error) }, "refused a Stripe webhook: signature verification failed");
      sendJson(response, 400, { error: "signature verification failed" });
      return true;
    }
    if (typeof event.id !== "string" || typeof event.type !== "string" || typeof event.data?.object !== "object" || event.data.object === null) {
      sendJson(response, 400, { error: "not a Stripe event: id, type and data.object are required" });
      return true;
    }
    // Stripe's events nest a few levels; a deeper one is refused before anything walks it.
    if (nestsDeeperThan(event, webhookDepthMax)) {
      deps.logger.warn({ eventId: storableText(event.id).slice(0, 255) }, "refused a Stripe webhook nested deeper than %d levels", webhookDepthMax);
      sendJson(response, 422, { error: `the event nests deeper than ${webhookDepthMax} levels; not stored` });
      return true;
    }
    // NUL characters and lone surrogates cannot be stored in text or jsonb: they are stored as U+FFFD.
    event = storableJson(event as unknown as Json) as unknown as StripeWebhookEvent;
    const stored = await storeWebhookEvent(deps.db, event, deps.clock.now());
    deps.logger.info({ eventId: event.id, type: event.type, redelivery: !stored }, "stripe webhook stored");
    sendJson(response, 200, { received: true, duplicate: !stored });
    if (stored) deps.onStored();
    return true;
  };
}

function pathOf(url: string | undefined): string {
  const path = url ?? "";
  const query = path.indexOf("?");
  return query < 0 ? path : path.slice(0, query);
}

/**
 * The raw body (signatures cover the exact bytes), or "too large" as soon as it passes the limit;
 * the rest of a too-large body is read and dropped, so the answer can still be sent.
 */
function readBody(request: Request, bytesMax: number): Promise<Buffer | "too large"> {
  return new Promise((resolve, reject) => {
    const declared = Number(request.headers["content-length"]);
    if (Number.isFinite(declared) && declared > bytesMax) {
      request.resume();
      resolve("too large");
      return;
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total <= bytesMax) {
        chunks.push(chunk);
        return;
      }
      request.off("data", onData);
      request.resume();
      resolve("too large");
    };
    request.on("data", onData);
    request.once("end", () => resolve(Buffer.concat(chunks)));
    request.once("error", reject);
  });
}
