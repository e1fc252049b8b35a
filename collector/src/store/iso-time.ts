/**
 * The collector's one time form: epoch milliseconds (`Clock.now()`, collector/src/time/clock.ts). The ingest stamps
 * each message with its receipt time in this form, and the ledger, alerts and deadlines compute in it. ISO 8601
 * strings exist only at the edges: the wire (agent bodies, stored as sent), the API's JSON, and the core tables'
 * TEXT columns (0001-core.sql, kept because they sort and read well). Repositories convert on write, here, once.
 */
export type EpochMs = number

/** Epoch milliseconds to the core tables' ISO 8601 UTC text. */
export function isoOf(ms: EpochMs): string {
  return new Date(ms).toISOString()
}
