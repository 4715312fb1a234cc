/**
 * Keys that stay set for a while (`declined:${appKey}:${caller}:${callee}`), behind a port so that
 * several nodes can share them (a Redis implementation with key expiry) without callers changing.
 */
export interface Cooldowns {
  /** Sets `key` for `ms` from now; a longer remaining time is kept. */
  start(key: string, ms: number): Promise<void>
  /** Whether `key` is set. */
  active(key: string): Promise<boolean>
  /** Unsets `key`. */
  clear(key: string): Promise<void>
}

/**
 * One node's cooldowns. Memory stays bounded: expired keys are dropped as later ones are set
 * (oldest set first), and past `maxKeys` the oldest is forgotten early.
 */
export function memoryCooldowns(options: { now?: () => number; maxKeys?: number } = {}): Cooldowns & {
  readonly size: number
} {
  const now = options.now ?? Date.now
  const maxKeys = options.maxKeys ?? 100_000
  const until = new Map<string, number>()

  function sweep(at: number): void {
    for (const [key, end] of until) {
      if (end > at && until.size <= maxKeys) return
      until.delete(key)
    }
  }

  return {
    get size() {
      return until.size
    },
    async start(key, ms) {
      if (ms <= 0) return
      const at = now()
      const end = Math.max(at + ms, until.get(key) ?? 0)
      // Re-inserted at the end, so the map stays in order of setting and sweeping stops early.
      until.delete(key)
      until.set(key, end)
      sweep(at)
    },
    async active(key) {
      const end = until.get(key)
      if (end === undefined) return false
      if (end > now()) return true
      until.delete(key)
      return false
    },
    async clear(key) {
      until.delete(key)
    },
  }
}
