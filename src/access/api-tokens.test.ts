import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { bearerToken, parseApiTokens, verifyToken } from "./api-tokens.js";

describe("API tokens", () => {
  const tokens = parseApiTokens(" ops:admin:admin-token-0123456789 , grafana:reader:reader-token-0123456789,");

  it("parses name:role:token entries and keeps only hashes", () => {
    assert.deepEqual(tokens.map((t) => [t.name, t.role]), [["ops", "admin"], ["grafana", "reader"]]);
    assert.ok(tokens.every((t) => t.sha256.length === 32));
    assert.ok(!JSON.stringify(tokens).includes("admin-token"));
  });

  it("verifies the presented token against all tokens", () => {
    assert.deepEqual(verifyToken(tokens, "reader-token-0123456789"), { name: "grafana", role: "reader" });
    assert.deepEqual(verifyToken(tokens, "admin-token-0123456789"), { name: "ops", role: "admin" });
    assert.equal(verifyToken(tokens, "admin-token-012345678"), undefined);
    assert.equal(verifyToken(tokens, ""), undefined);
  });

  it("accepts a token given by its SHA-256, and a token containing colons", () => {
    const hash = createHash("sha256").update("a:secret:with:colons").digest("hex");
    const parsed = parseApiTokens(`ci:reader:sha256:${hash},x:admin:a:secret:with:colons-too`);
    assert.deepEqual(verifyToken(parsed, "a:secret:with:colons"), { name: "ci", role: "reader" });
    assert.deepEqual(verifyToken(parsed, "a:secret:with:colons-too"), { name: "x", role: "admin" });
  });

  it("rejects malformed entries with a message naming the entry and the rule", () => {
    const cases: Array<[string, RegExp]> = [
      ["", /holds no tokens/],
      ["ops:admin", /entry 1 is not name:role:token/],
      ["ops:owner:0123456789abcdef", /role "owner" must be admin or reader/],
      ["ops:admin:short", /5 characters long, at least 16/],
      [":admin:0123456789abcdef", /name "" must be/],
      ["ops:admin:sha256:abc", /64 hex digits/],
      ["a:admin:0123456789abcdef,a:reader:fedcba9876543210", /name "a" is used twice/],
      ["a:admin:0123456789abcdef,b:reader:0123456789abcdef", /token of "b" is also used/],
    ];
    for (const [text, message] of cases) assert.throws(() => parseApiTokens(text), message, text);
  });

  it("reads Bearer headers only", () => {
    assert.equal(bearerToken("Bearer abc"), "abc");
    assert.equal(bearerToken("bearer  abc "), "abc");
    assert.equal(bearerToken("Basic abc"), undefined);
    assert.equal(bearerToken("Bearer"), undefined);
    assert.equal(bearerToken(undefined), undefined);
  });
});
