import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseKeysetPage } from "./keyset-page.js";

const limits = { pageSizeMax: 10, pageSizeDefault: 3 };

describe("keyset page", () => {
  it("gives the first page of the default size for page_size 0 and no token", () => {
    assert.deepEqual(parseKeysetPage({ pageSize: 0, pageToken: "" }, limits), { beforeKey: undefined, pageSize: 3 });
    assert.deepEqual(parseKeysetPage({ pageSize: 10, pageToken: "7" }, limits), { beforeKey: 7n, pageSize: 10 });
  });

  it("refuses a page size that is not a whole number within the limit, naming the limit", () => {
    for (const pageSize of [11, -1, 1.5]) {
      assert.throws(() => parseKeysetPage({ pageSize, pageToken: "" }, limits), { code: "InvalidArgument", message: `page_size ${pageSize} must be between 0 and 10` });
    }
  });
});
