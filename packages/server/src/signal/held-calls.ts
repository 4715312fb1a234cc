import type { CallRecord } from '@ringkit/protocol'
import type { Logger } from 'pino'
import type { Session } from './Session.ts'

/**
 * How long a call is held before it is looked at: its own end, on its way, comes first (from a
 * dead node's inbox, looked at again 1.5 s after a takeover).
 */
export const HELD_LOOK_AFTER_MS = 4_000
/** A call over without a record after this long (its node died before writing one) is let go. */
export const HELD_GIVE_UP_MS = 60_000

export interface HeldCallsPorts {
  /** Whether the call is still going on: its events reach the device as any call's do. */
  live(callId: string): Promise<boolean>
  /** The call's record, if its account is a party: a device naming another's learns nothing of it. */
  record(session: Session, callId: string): Promise<CallRecord | undefined>
  /** Whether the session is still this node's to tell. */
  held(session: Session): boolean
  log: Logger
  now?: () => number
}

/**
 * The calls a device holds, as its session saw them begin (an invite, the reply to its call, the
 * calls it named when it resumed), whose end it has not numbered. A node that died between ending
 * a call and handing its end on to the device's node took that end with it: the record, written
 * first, shows it. Each look ends for its device every call held a while that is over and has its
 * record, with `callEnd` and the record as if it had heard them.
 */
export async function settleHeldCalls(ports: HeldCallsPorts, sessions: readonly Session[]): Promise<void> {
  const now = (ports.now ?? Date.now)()
  for (const session of sessions) {
    for (const [callId, since] of session.heldCalls()) {
      if (now - since < HELD_LOOK_AFTER_MS) continue
      try {
        if (await ports.live(callId)) continue
        const record = await ports.record(session, callId)
        if (!ports.held(session)) break
        if (record) {
          session.event({ name: 'callEnd', data: { callId, reason: record.endReason } })
          session.event({ name: 'record', data: record })
        } else if (now - since > HELD_GIVE_UP_MS) session.letGoOfCall(callId)
      } catch (error) {
        ports.log.warn({ err: error, accid: session.accid }, 'could not look at a call a device holds')
      }
    }
  }
}
