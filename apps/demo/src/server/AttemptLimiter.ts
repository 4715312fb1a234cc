/** A fixed-window counter per key (the client IP): enough to slow password guessing at sign-in. */
export class AttemptLimiter {
  readonly #limit: number
  readonly #windowMs: number
  readonly #windows = new Map<string, { startedAt: number; count: number }>()

  constructor(limit: number, windowMs = 60_000) {
    this.#limit = limit
    this.#windowMs = windowMs
  }

  /** Counts one attempt; returns how many seconds to wait when over the limit, else 0. */
  take(key: string, now = Date.now()): number {
    let window = this.#windows.get(key)
    if (!window || now - window.startedAt >= this.#windowMs) {
      if (this.#windows.size > 10_000) this.#prune(now)
      window = { startedAt: now, count: 0 }
      this.#windows.set(key, window)
    }
    window.count++
    if (window.count <= this.#limit) return 0
    return Math.max(1, Math.ceil((window.startedAt + this.#windowMs - now) / 1000))
  }

  #prune(now: number): void {
    for (const [key, window] of this.#windows) {
      if (now - window.startedAt >= this.#windowMs) this.#windows.delete(key)
    }
  }
}
