import { recordStatusFor, type CallRecord } from '@ringkit/protocol'
import type { CallState } from './types.ts'

type Ended = Extract<CallState, { phase: 'ended' }>

/** The call record (话单) of an ended call. The caller is a member too, joined from the start. */
export function buildRecord(s: Ended): CallRecord {
  const connected = s.connectedAt !== undefined
  const durationMs = connected ? s.endedAt - (s.connectedAt ?? s.endedAt) : 0
  return {
    callId: s.callId,
    type: s.type,
    caller: s.caller.accid,
    callees: s.callees,
    isGroup: s.isGroup,
    status: recordStatusFor(s.reason, connected),
    endReason: s.reason,
    startedAt: s.createdAt,
    ...(connected ? { connectedAt: s.connectedAt } : {}),
    endedAt: s.endedAt,
    durationSeconds: Math.round(durationMs / 1000),
    members: [
      { accid: s.caller.accid, status: 'joined', joinedAt: s.createdAt, leftAt: s.callerLeftAt ?? s.endedAt },
      ...s.members.map((m) => ({
        accid: m.accid,
        status: m.status === 'ringing' ? ('missed' as const) : m.status,
        ...(m.joinedAt === undefined ? {} : { joinedAt: m.joinedAt }),
        ...(m.leftAt === undefined ? {} : { leftAt: m.leftAt }),
      })),
    ],
    ...(s.attachment ? { attachment: s.attachment } : {}),
  }
}
