// A webhook receiver for tests, as a platform would run one: it verifies every delivery with the
// `standardwebhooks` package (the spec's reference implementation, not Tally's signing code),
// deduplicates by webhook-id, and can be told to fail, hang or answer late.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface ReceivedDelivery {
  readonly webhookId: string;
  readonly timestamp: string;
  readonly signature: string;
  readonly body: string;
  readonly payload: { type: string; timestamp: string; data: Record<string, unknown> };
  /** Secrets (by index in `secrets`) whose signature verified. */
  readonly verifiedWith: number[];
  readonly receivedAtMs: number;
}

/** What to do with a request: answer with a status (after a delay), or never answer. */
export type Behaviour = { status: number; delayMs?: number } | "hang";

export interface WebhookReceiver {
  readonly url: string;
  /** Every request, in arrival order (duplicates included). */
  readonly requests: ReceivedDelivery[];
  /** The secrets deliveries are verified with; a request no secret verifies is answered 400. */
  secrets: string[];
  /** Decides the answer to the n-th request (0-based); default 204. */
  behaviour: (index: number, delivery: ReceivedDelivery) => Behaviour;
  /** Requests refused for a bad signature. */
  readonly refused: string[];
  /** The first delivery of each webhook-id, in order of first arrival. */
  unique(): ReceivedDelivery[];
  /** Resolves when `predicate` holds for the requests (checked on each request), or rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startWebhookReceiver(secrets: string[]): Promise<WebhookReceiver> {
  const requests: ReceivedDelivery[] = [];
  const refused: string[] = [];
  const waiters = new Set<() => void>();
  const hanging = new Set<http.ServerResponse>();
  const receiver: WebhookReceiver = {
    url: "",
    requests,
    refused,
    secrets,
    behaviour: () => ({ status: 204 }),
    unique() {
      const seen = new Set<string>();
      return requests.filter((request) => !seen.has(request.webhookId) && seen.add(request.webhookId));
    },
    async waitFor(predicate, timeoutMs = 20_000) {
      if (predicate()) return;
      await new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!predicate()) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`receiver: condition not met within ${timeoutMs} ms (${requests.length} requests so far)`));
        }, timeoutMs);
        waiters.add(check);
      });
    },
    async close() {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const headers = {
        "webhook-id": String(request.headers["webhook-id"] ?? ""),
        "webhook-timestamp": String(request.headers["webhook-timestamp"] ?? ""),
        "webhook-signature": String(request.headers["webhook-signature"] ?? ""),
      };
      const verifiedWith = receiver.secrets.flatMap((secret, index) => {
        try {
          new Webhook(secret).verify(body, headers);
          return [index];
        } catch {
          return [];
        }
      });
      if (verifiedWith.length === 0) {
        refused.push(headers["webhook-id"]);
        response.writeHead(400).end("bad signature");
        return;
      }
      const delivery: ReceivedDelivery = {
        webhookId: headers["webhook-id"],
        timestamp: headers["webhook-timestamp"],
        signature: headers["webhook-signature"],
        body,
        payload: JSON.parse(body),
        verifiedWith,
        receivedAtMs: Date.now(),
      };
      const index = requests.length;
      requests.push(delivery);
      for (const waiter of [...waiters]) waiter();
      const behaviour = receiver.behaviour(index, delivery);
      if (behaviour === "hang") {
        hanging.add(response);
        return;
      }
      const answer = () => {
        if (!response.destroyed) response.writeHead(behaviour.status).end(behaviour.status >= 300 ? "not now" : "");
      };
      if (behaviour.delayMs) setTimeout(answer, behaviour.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (receiver as { url: string }).url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return receiver;
}
