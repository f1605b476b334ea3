// Limits the server enforces, mirrored for early feedback in forms (a test keeps them equal).
/** src/services/ledger-service.ts creditNoteCreditsMax */
export const creditNoteCreditsMax = 100_000_000;
/** src/services/ledger-service.ts descriptionLengthMax */
export const descriptionLengthMax = 1000;
/** src/domain/usage-query.ts listUsageRangeDaysMax */
export const rangeDaysMax = 300;
/** src/services/account-service.ts blockReasonLengthMax */
export const blockReasonLengthMax = 1000;
