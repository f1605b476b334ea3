import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseEventTypes } from "./account-event.js";
import { deliveryRetryDelayMs, parseEndpointId, parseEndpointSecret, parseEndpointUrl } from "./event-endpoint.js";

const base64Of = (bytes: number) => btoa(String.fromCharCode(...new Array<number>(bytes).fill(65)));

describe("webhook endpoints", () => {
  it("takes http and https URLs only", () => {
    assert.equal(parseEndpointUrl(" https://example.test/hooks "), "https://example.test/hooks");
    assert.throws(() => parseEndpointUrl("mailto:a@b"), /must start with http/);
    assert.throws(() => parseEndpointUrl("not a url"), /is not a URL/);
    assert.throws(() => parseEndpointUrl(`https://x.test/${"a".repeat(2048)}`), /longer than 2048/);
  });

  it("takes secrets as Standard Webhooks writes them: whsec_ and the base64 of 24 to 64 bytes", () => {
    for (const bytes of [24, 32, 64]) assert.equal(parseEndpointSecret(`whsec_${base64Of(bytes)}`), `whsec_${base64Of(bytes)}`);
    assert.throws(() => parseEndpointSecret(`whsec_${base64Of(23)}`), /not 23/);
    assert.throws(() => parseEndpointSecret(`whsec_${base64Of(65)}`), /not 65/);
    assert.throws(() => parseEndpointSecret(base64Of(32)), /"whsec_"/);
    assert.throws(() => parseEndpointSecret("whsec_abc$"), /standard base64/);
  });

  it("knows endpoint ids: UUIDs and config:<name>", () => {
    assert.equal(parseEndpointId("0A7DCF25-F05E-4DCF-9A47-CF8FCCC74717"), "0a7dcf25-f05e-4dcf-9a47-cf8fccc74717");
    assert.equal(parseEndpointId("config:crm"), "config:crm");
    assert.throws(() => parseEndpointId("crm"), /not an endpoint id/);
    assert.throws(() => parseEndpointId(""), /endpoint_id is required/);
  });

  it("lists event types once each, in a fixed order", () => {
    assert.deepEqual(parseEventTypes(["limit.reached", "limit.warning", "limit.reached"]), ["limit.warning", "limit.reached"]);
    assert.throws(() => parseEventTypes([]), /at least one/);
    assert.throws(() => parseEventTypes(["limit.warning", "usage.booked"]), /event_types\[1\] "usage.booked"/);
  });

  it("backs off 5 s, 10 s, 20 s, ... up to an hour", () => {
    assert.deepEqual([1, 2, 3, 4].map(deliveryRetryDelayMs), [5_000, 10_000, 20_000, 40_000]);
    assert.equal(deliveryRetryDelayMs(12), 3_600_000);
    assert.equal(deliveryRetryDelayMs(1000), 3_600_000);
  });
});
