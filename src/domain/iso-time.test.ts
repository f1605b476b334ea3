import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isoTime } from "./iso-time.js";

describe("isoTime", () => {
  it("writes what toISOString writes, at the edges and for 300,000 random times of years 0000-9999", () => {
    const edges = [
      0, -1, 1, 951_782_400_000 /* 2000-02-29 */, 4_107_542_399_999 /* 2100-02-28T23:59:59.999 */, 4_107_542_400_000,
      -62_167_219_200_000, -62_167_219_200_001, 253_402_300_799_999, 253_402_300_800_000, 8.64e15, -8.64e15,
    ];
    let state = 0x9e3779b9;
    const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const random = Array.from({ length: 300_000 }, () => Math.floor(-62_167_219_200_000 + next() * 315_569_520_000_000));
    for (const ms of [...edges, ...random]) {
      const time = new Date(ms);
      assert.equal(isoTime(time), time.toISOString(), String(ms));
    }
  });
});
