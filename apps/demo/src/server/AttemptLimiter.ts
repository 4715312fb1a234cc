/** Keys a limiter remembers at most by default: a few hundred KiB, however many keys come. */
export const DEFAULT_MAX_KEYS = 10_000

/**
 * A fixed-window counter per key (an IP, or an IP and a username), in bounded memory: windows are
 * kept oldest first, so the expired ones are dropped from the front, and when `maxKeys` live
 * windows are held the oldest goes to make room (it has the least time left anyway).
 */
export class AttemptLimiter {
  readonly #limit: number
  readonly #windowMs: number
  readonly #maxKeys: number
  // Insertion order is start order: a renewed window is deleted and set again at the end.
  readonly #windows = new Map<string, { startedAt: number; count: number }>()

  constructor(limit: number, windowMs = 60_000, maxKeys = DEFAULT_MAX_KEYS) {
    this.#limit = limit
    this.#windowMs = windowMs
    this.#maxKeys = maxKeys
  }

  /** How many keys are held now: never more than `maxKeys`. */
  get size(): number {
    return this.#windows.size
  }

  /** Counts one attempt; returns how many seconds to wait when over the limit, else 0. */
  take(key: string, now = Date.now()): number {
    let window = this.#windows.get(key)
    if (!window || now - window.startedAt >= this.#windowMs) {
      this.#windows.delete(key)
      this.#makeRoom(now)
      window = { startedAt: now, count: 0 }
      this.#windows.set(key, window)
    }
    window.count++
    if (window.count <= this.#limit) return 0
    return Math.max(1, Math.ceil((window.startedAt + this.#windowMs - now) / 1000))
  }

  #makeRoom(now: number): void {
    for (const [key, window] of this.#windows) {
      if (now - window.startedAt < this.#windowMs && this.#windows.size < this.#maxKeys) return
      this.#windows.delete(key)
    }
  }
}
