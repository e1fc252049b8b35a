import type { RateLimit } from './limits.ts'

/**
 * Token buckets keyed by address (or one shared key), on the injected clock. Memory is bounded: past `maxKeys`
 * the least recently touched key is forgotten (a forgotten address starts again with a full bucket, which costs
 * an attacker nothing it could not get from `maxKeys` other addresses).
 */
export interface TokenBuckets {
  /** Takes one token; false = the bucket is empty (refuse). */
  take(key: string): boolean
  /** True while the bucket is empty, without taking anything. */
  empty(key: string): boolean
}

interface Bucket {
  tokens: number
  at: number
}

export function createTokenBuckets(limit: RateLimit, now: () => Date, maxKeys = 10_000): TokenBuckets {
  const buckets = new Map<string, Bucket>()
  const perMs = limit.perMinute / 60_000
  const refill = (key: string): Bucket => {
    const t = now().getTime()
    const b = buckets.get(key) ?? { tokens: limit.burst, at: t }
    b.tokens = Math.min(limit.burst, b.tokens + Math.max(0, t - b.at) * perMs)
    b.at = t
    // Re-insert so Map order is least recently touched first.
    buckets.delete(key)
    buckets.set(key, b)
    if (buckets.size > maxKeys) {
      buckets.delete(buckets.keys().next().value as string)
    }
    return b
  }
  return {
    take: (key) => {
      const b = refill(key)
      if (b.tokens < 1) {
        return false
      }
      b.tokens -= 1
      return true
    },
    empty: (key) => buckets.has(key) && refill(key).tokens < 1,
  }
}
