export interface BackoffPolicy {
  /** First delay. */
  readonly baseMs: number
  /** Ceiling. */
  readonly maxMs: number
}

export const defaultBackoff: BackoffPolicy = { baseMs: 1000, maxMs: 60_000 }

/**
 * Exponential backoff with "equal jitter" (AWS architecture blog): half the delay is fixed, half random, so a
 * fleet that lost its collector at the same moment does not reconnect in lockstep, yet no node retries at once.
 * `attempt` counts from 0; `random` is injectable for tests.
 */
export function backoffMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30))
  return Math.round(exp / 2 + random() * (exp / 2))
}
