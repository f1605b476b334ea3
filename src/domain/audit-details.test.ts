import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { attributionIdOf, auditDetailsBytesMax, boundDetails, redactSecrets, storableJson } from "./audit-details.js";

describe("audit details", () => {
  it("redacts secret-looking fields at any depth", () => {
    assert.deepEqual(redactSecrets({ a: 1, clientSecret: "cs_123", nested: { apiToken: "t", list: [{ password: "p", ok: true }] } }), {
      a: 1,
      clientSecret: "[redacted]",
      nested: { apiToken: "[redacted]", list: [{ password: "[redacted]", ok: true }] },
    });
  });

  it("replaces NUL, which PostgreSQL cannot store, in every string and key", () => {
    assert.deepEqual(storableJson({ "a\u0000": ["b\u0000c", 1, null, { d: "\u0000" }] }), { "a\ufffd": ["b\ufffdc", 1, null, { d: "\ufffd" }] });
  });

  it("keeps small details, replaces large lists by their length, and keeps only the size when still too large", () => {
    assert.deepEqual(boundDetails({ a: "x" }), { a: "x" });
    const instances = Array.from({ length: 1000 }, (_, i) => ({ id: `instance-${i}`, workspaceClass: "g1-standard" }));
    assert.deepEqual(boundDetails({ instances, note: "batch" }), { instances: { count: 1000, omitted: true }, note: "batch" });
    const big = "y".repeat(auditDetailsBytesMax + 1);
    assert.deepEqual(boundDetails({ big }), { omitted: true, requestBytes: auditDetailsBytesMax + 11 });
  });

  it("finds the attribution id at the top or one level down, canonical when valid, not in lists", () => {
    const id = "team:0a7dcf25-f05e-4dcf-9a47-cf8fccc74717";
    assert.equal(attributionIdOf({ attributionId: id.toUpperCase().replace("TEAM", "team") }), id);
    assert.equal(attributionIdOf({ costCenter: { attributionId: id } }), id);
    assert.equal(attributionIdOf({ attributionId: "nonsense" }), "nonsense");
    assert.equal(attributionIdOf({ instances: [{ attributionId: id }] }), undefined);
    assert.equal(attributionIdOf({ a: { b: { attributionId: id } } }), undefined);
    assert.equal(attributionIdOf({}), undefined);
  });
});
