/** The ledger's time seam is the collector's one Clock (time/clock.ts); these names keep the ledger's imports. */
export { MAX_TIMER_MS, systemClock as systemLedgerClock, type Clock as LedgerClock } from '../time/clock.ts'
