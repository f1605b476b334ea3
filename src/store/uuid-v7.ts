// UUID version 7 (RFC 9562): 48 bits of Unix milliseconds, then randomness. Ids minted in time order
// land at the right edge of their primary-key index instead of on a random page, which keeps bulk
// inserts (a reconcile writing 100,000 entries) from touching and logging every page of the index.
import { randomFillSync } from "node:crypto";

const pool = Buffer.alloc(16 * 1024);
let poolOffset = pool.length;

export function uuidV7(time: Date): string {
  if (poolOffset + 10 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = Buffer.alloc(16);
  bytes.writeUIntBE(time.getTime(), 0, 6);
  pool.copy(bytes, 6, poolOffset, poolOffset + 10);
  poolOffset += 10;
  bytes[6] = (bytes[6]! & 0x0f) | 0x70; // version 7
  bytes[8] = (bytes[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
