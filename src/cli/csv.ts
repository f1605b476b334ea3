// One CSV record per call, for the exports (`tally usage ls --csv`). Its own file: only an export
// loads csv-stringify.
import { stringify } from "csv-stringify/sync";

/** One CSV record (RFC 4180, CRLF line ends; quoted when a field holds a comma, quote or line break), by csv-stringify. */
export function csvRow(values: readonly string[]): string {
  // quoted_match: csv-stringify quotes only the record delimiter itself (CRLF), a lone \n or \r too.
  return stringify([values as string[]], { record_delimiter: "windows", quoted_match: /[\r\n]/ });
}
