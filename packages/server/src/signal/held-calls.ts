import type { CallRecord } from '@ringkit/protocol'
import type { Logger } from 'pino'

/**
 * When the calls a device resumed holding are looked at, from the resume on: after the second look
 * into the dead node's inbox, so that the call's own end, on its way, comes first; and again, for a
 * call whose node died with it that may still be ending (its record spooled, or written by the node
 * that adopts it).
 */
const LOOKS_MS = [2_000, 6_000]

export interface HeldCallsPorts {
  /** Whether the call is still going on: its events reach the device as any call's do. */
  live(callId: string): Promise<boolean>
  record(callId: string): Promise<CallRecord | undefined>
  /** The call is over: the device is told as if it had heard its end. */
  ended(record: CallRecord): void
  log: Logger
}

/**
 * A device that resumes a session taken from a dead node may hold calls whose end it never heard:
 * that node ran the call, wrote its record and died before the end reached the session's log.
 * Each call it names that is no longer going on, and has its record, is ended for it.
 */
export function settleHeldCalls(ports: HeldCallsPorts, callIds: readonly string[]): void {
  let pending = [...new Set(callIds)]
  const look = async (i: number) => {
    const still: string[] = []
    for (const callId of pending) {
      if (await ports.live(callId)) continue
      const record = await ports.record(callId)
      if (record) ports.ended(record)
      else still.push(callId)
    }
    pending = still
    const next = LOOKS_MS[i + 1]
    if (pending.length > 0 && next !== undefined) setTimeout(() => run(i + 1), next - LOOKS_MS[i]!).unref()
  }
  const run = (i: number) =>
    void look(i).catch((error: unknown) => ports.log.warn({ err: error }, 'could not look at the calls a device holds'))
  setTimeout(() => run(0), LOOKS_MS[0]).unref()
}
