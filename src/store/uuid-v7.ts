// UUID version 7 (RFC 9562), made by the `uuid` package: 48 bits of Unix milliseconds, then
// randomness. Ids minted in time order land at the right edge of their primary-key index instead of
// on a random page, which keeps bulk inserts (a reconcile writing 100,000 entries) from touching and
// logging every page of the index.
//
// Ids minted with the same time (every entry of one reconcile run is stamped with the run's `now`)
// continue a counter after the milliseconds, as the package does for its own clock: random from
// the first id of a millisecond on, then +1. Without it, a run's 1,000,000 ids shared one
// millisecond and were random after it, so the primary key took them on random pages (measured at
// 1M: 339 index blocks read from outside shared buffers per 1000 entries).
//
// The random bytes come from a pool filled 16 KiB at a time: left to itself, the package asks the
// operating system for 16 bytes per id, which made a 100,000-id reconcile spend ~10x longer minting ids.
import { randomFillSync } from "node:crypto";
import { v7 } from "uuid";

const pool = Buffer.alloc(16 * 1024);
let poolOffset = pool.length;

/** The last id's milliseconds and counter. */
const last = { msecs: Number.NEGATIVE_INFINITY, seq: 0 };

export function uuidV7(time: Date): string {
  if (poolOffset + 16 > pool.length) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const random = pool.subarray(poolOffset, poolOffset + 16);
  poolOffset += 16;
  const msecs = time.getTime();
  if (msecs === last.msecs) {
    // 32 bits, counted as unsigned by the encoding; wrapping (2^31 ids in one millisecond) moves on a millisecond.
    last.seq = (last.seq + 1) | 0;
    if (last.seq === 0) last.msecs += 1;
  } else {
    // A new millisecond (or a clock that went back): the counter starts at a random 31-bit value.
    last.msecs = msecs;
    last.seq = ((random[6]! & 0x7f) << 24) | (random[7]! << 16) | (random[8]! << 8) | random[9]!;
  }
  return v7({ msecs: last.msecs, seq: last.seq, random });
}
