import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAttributionId, parseOptionalUserId } from "./attribution-id.js";
import { TallyError } from "./tally-error.js";

const uuid = "0a7dcf25-f05e-4dcf-9a47-cf8fccc74717";

function invalid(fn: () => unknown, message: RegExp) {
  assert.throws(fn, (error: unknown) => error instanceof TallyError && error.code === "InvalidArgument" && message.test(error.message));
}

describe("attribution ids", () => {
  it("accepts team and user ids and canonicalises the UUID to lower case", () => {
    assert.deepEqual(parseAttributionId(`team:${uuid}`), { kind: "team", uuid, text: `team:${uuid}` });
    assert.equal(parseAttributionId(`user:${uuid.toUpperCase()}`).text, `user:${uuid}`);
  });

  it("names the value and the rule it breaks", () => {
    invalid(() => parseAttributionId(""), /attribution_id is required/);
    invalid(() => parseAttributionId(uuid), /has no colon/);
    invalid(() => parseAttributionId(`org:${uuid}`), /unknown kind "org"/);
    invalid(() => parseAttributionId("team:"), /is 0 characters long/);
    invalid(() => parseAttributionId(`team:${uuid.replace(/-/g, "x")}`), /characters other than hex/);
    invalid(() => parseAttributionId("team:0a7dcf25-f05e-0dcf-9a47-cf8fccc74717"), /RFC 4122/);
    invalid(() => parseAttributionId("team:0a7dcf25-f05e-4dcf-1a47-cf8fccc74717"), /RFC 4122/);
    invalid(() => parseAttributionId(`team:${"a".repeat(200)}`), /longer than 128/);
    invalid(() => parseAttributionId("x", "cost_center.attribution_id"), /^cost_center.attribution_id "x"/);
  });

  it("treats an empty user id as absent and rejects anything but a UUID", () => {
    assert.equal(parseOptionalUserId(""), undefined);
    assert.equal(parseOptionalUserId(uuid.toUpperCase()), uuid);
    invalid(() => parseOptionalUserId("bob"), /user_id "bob"/);
  });
});
