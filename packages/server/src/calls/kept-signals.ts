/**
 * What ringing calls keep of their caller's negotiation (offer, candidates) for callee devices that
 * log in late. Bounded per call in messages and in bytes: a caller that relays more than a real
 * negotiation needs still reaches the devices online, but nothing more of it is kept.
 */
export class KeptSignals<E> {
  readonly #byCall = new Map<string, { events: E[]; bytes: number }>()
  readonly #limits: { count: number; bytes: number }
  #bytes = 0

  constructor(limits: { count: number; bytes: number }) {
    this.#limits = limits
  }

  /** Keeps `event`, `bytes` long, unless the call already keeps as much as it may. */
  keep(callId: string, event: E, bytes: number): void {
    const kept = this.#byCall.get(callId) ?? { events: [], bytes: 0 }
    if (kept.events.length >= this.#limits.count || kept.bytes + bytes > this.#limits.bytes) return
    kept.events.push(event)
    kept.bytes += bytes
    this.#bytes += bytes
    this.#byCall.set(callId, kept)
  }

  of(callId: string): readonly E[] {
    return this.#byCall.get(callId)?.events ?? []
  }

  drop(callId: string): void {
    this.#bytes -= this.#byCall.get(callId)?.bytes ?? 0
    this.#byCall.delete(callId)
  }

  /** What every call keeps, in bytes of JSON. */
  get heldBytes(): number {
    return this.#bytes
  }
}
