import type { ServerEvent } from '@ringkit/protocol'
import { KeptSignals } from './kept-signals.ts'

/**
 * What a ringing 1:1 call keeps of its caller's negotiation (offer, candidates) for callee devices
 * that log in late, in the order relayed. In memory for one node; in a cluster it is shared
 * (Redis), since the late device may log in on another node than the caller's. Bounded per call as
 * `KeptSignals` is: what goes past the bound still reaches the devices online, but is not kept.
 */
export interface RingingSignals {
  /**
   * Keeps `event` until `until` (ms since epoch) at the latest, counted as the bytes of its JSON. A
   * keep that fails costs only late devices the event: the caller sends it to the online ones anyway.
   */
  keep(callId: string, event: ServerEvent, until: number): Promise<void>
  /** What the call keeps, in the order kept. */
  of(callId: string): Promise<readonly ServerEvent[]>
  /** Ringing is over: nothing more is kept for the call. */
  drop(callId: string): Promise<void>
  /** Bytes held in this process's memory (a shared store holds them elsewhere: 0). */
  readonly heldBytes: number
}

export function memoryRingingSignals(limits: { count: number; bytes: number }): RingingSignals {
  // One node: the call's own timer drops what it keeps when ringing ends, so no expiry is needed.
  const kept = new KeptSignals<ServerEvent>(limits)
  return {
    async keep(callId, event) {
      kept.keep(callId, event, Buffer.byteLength(JSON.stringify(event)))
    },
    async of(callId) {
      return kept.of(callId)
    },
    async drop(callId) {
      kept.drop(callId)
    },
    get heldBytes() {
      return kept.heldBytes
    },
  }
}
