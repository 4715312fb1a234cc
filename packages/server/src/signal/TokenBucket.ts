/** Allows `burst` actions at once, refilled at `perSecond`. */
export class TokenBucket {
  readonly #perSecond: number
  readonly #burst: number
  #tokens: number
  #at: number

  constructor(perSecond: number, burst: number, now = performance.now()) {
    this.#perSecond = perSecond
    this.#burst = burst
    this.#tokens = burst
    this.#at = now
  }

  /** Takes `cost` tokens (an action, or its size in bytes) if there are that many. */
  take(now = performance.now(), cost = 1): boolean {
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) / 1000) * this.#perSecond)
    this.#at = now
    if (this.#tokens < cost) return false
    this.#tokens -= cost
    return true
  }
}
