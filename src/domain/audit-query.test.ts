import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { auditPageSizeDefault, parseAuditPageQuery } from "./audit-query.js";

const team = "team:0b7c5f2e-3f39-4c4e-9a57-7b2f2b1d9a10";

describe("audit page query", () => {
  it("defaults to the first page of every attribution id", () => {
    assert.deepEqual(parseAuditPageQuery({ attributionId: "", pageSize: 0, pageToken: "" }), {
      attributionId: undefined,
      beforeId: undefined,
      pageSize: auditPageSizeDefault,
    });
  });

  it("reads a page token as the id the previous page ended at", () => {
    assert.deepEqual(parseAuditPageQuery({ attributionId: team.toUpperCase().replace("TEAM", "team"), pageSize: 2, pageToken: "42" }), {
      attributionId: team,
      beforeId: 42n,
      pageSize: 2,
    });
  });

  it("refuses page sizes out of range and tokens no server returned, naming the field", () => {
    assert.throws(() => parseAuditPageQuery({ attributionId: "", pageSize: 1001, pageToken: "" }), /^TallyError: page_size 1001 must be between 0 and 1000/);
    assert.throws(() => parseAuditPageQuery({ attributionId: "", pageSize: -1, pageToken: "" }), /^TallyError: page_size -1/);
    for (const token of ["abc", "0", "01", "9223372036854775808", "9999999999999999999", "12345678901234567890"]) {
      assert.throws(() => parseAuditPageQuery({ attributionId: "", pageSize: 0, pageToken: token }), {
        code: "InvalidArgument",
        message: `page_token ${JSON.stringify(token)} is not a token this server returned`,
      });
    }
    assert.equal(parseAuditPageQuery({ attributionId: "", pageSize: 0, pageToken: "9223372036854775807" }).beforeId, 9_223_372_036_854_775_807n);
  });
});
