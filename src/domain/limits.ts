// Limits that the CLI's help text names. Here, in a file with no imports, so that `tally --help`
// shows them without loading the domain modules (and their dependencies) that enforce them.

/** ListUsage: the longest range of one call, in days. */
export const listUsageRangeDaysMax = 300;
/** ListUsage and ListCreditNotesAndInvoices: the most entries per page. */
export const listUsagePageSizeMax = 1000;
/**
 * The largest amount the CLI and the dashboard offer in one step, as a guard against typos (larger
 * corrections are several notes, each with its reason). The RPC itself takes any int32, like the
 * usage component it replaces: callers such as Gitpod's admin dashboard rely on that.
 */
export const creditNoteCreditsMax = 100_000_000;
