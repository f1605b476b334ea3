import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Webhook } from "standardwebhooks";
import { generateSecret, sign, webhookHeaders } from "./webhook-signature.js";

describe("Standard Webhooks signing", () => {
  it("matches the spec's reference implementation", () => {
    const secret = generateSecret();
    assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/);
    const body = JSON.stringify({ type: "limit.reached", timestamp: "2026-01-15T12:00:00.000Z", data: { a: 1 } });
    const time = new Date("2026-01-15T12:00:00Z");
    assert.equal(sign(secret, "msg_1", time.getTime() / 1000, body), new Webhook(secret).sign("msg_1", time, body));
  });

  it("signs with every valid secret, each verifying on its own", () => {
    const [current, previous] = [generateSecret(), generateSecret()];
    const body = '{"type":"limit.cleared"}';
    const headers = webhookHeaders([current, previous], "evt_1", Math.floor(Date.now() / 1000), body);
    assert.equal(headers["webhook-signature"].split(" ").length, 2);
    for (const secret of [current, previous]) assert.deepEqual(new Webhook(secret).verify(body, headers), { type: "limit.cleared" });
    assert.throws(() => new Webhook(generateSecret()).verify(body, headers), /No matching signature/);
  });
});
