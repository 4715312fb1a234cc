import type { Rate } from '../limits.ts'

/**
 * Rate limits by key (`invites:${appKey}:${accid}`, `rest:${appKey}`), behind a port so that
 * several nodes can share one budget (a Redis implementation) without callers changing.
 */
export interface RateLimiter {
  /** Spends one action of `key`'s budget; false when none is left. */
  take(key: string, rate: Rate): Promise<boolean>
}

interface Bucket {
  tokens: number
  at: number
  /** When the bucket is full again, so the key can be forgotten. */
  fullAt: number
}

/** Idle keys checked for expiry per `take`: enough to keep up, cheap enough to do on every call. */
const SWEEP_PER_TAKE = 2

/**
 * One node's token buckets. Memory stays bounded: a bucket that has refilled says nothing more
 * than a missing one, so idle keys are dropped (oldest-touched first), and past `maxKeys` the
 * least recently used key is forgotten, which can only make its owner's budget more generous.
 */
export function memoryRateLimiter(options: { now?: () => number; maxKeys?: number } = {}): RateLimiter & {
  readonly size: number
} {
  const now = options.now ?? (() => performance.now())
  const maxKeys = options.maxKeys ?? 100_000
  // Map order is touch order: each take moves its key to the end.
  const buckets = new Map<string, Bucket>()

  function sweep(at: number): void {
    let checked = 0
    for (const [key, bucket] of buckets) {
      const over = buckets.size > maxKeys
      if (!over && checked++ >= SWEEP_PER_TAKE) return
      if (over || bucket.fullAt <= at) buckets.delete(key)
    }
  }

  return {
    get size() {
      return buckets.size
    },
    async take(key, rate) {
      const at = now()
      const found = buckets.get(key)
      buckets.delete(key)
      const refilled = found ? found.tokens + ((at - found.at) / 1000) * rate.perSecond : rate.burst
      let tokens = Math.min(rate.burst, refilled)
      const allowed = tokens >= 1
      if (allowed) tokens -= 1
      const fullAt = at + ((rate.burst - tokens) / rate.perSecond) * 1000
      buckets.set(key, { tokens, at, fullAt })
      sweep(at)
      return allowed
    },
  }
}
