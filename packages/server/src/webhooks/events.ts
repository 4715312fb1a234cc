import { RECORD_STATUS, type CallRecord } from '@ringkit/protocol'
import type { CallState, LiveMemberStatus } from '../calls/types.ts'

/** The event types an endpoint can ask for; `events` left out of a registration means all. */
export const WEBHOOK_EVENT_TYPES = [
  'call.ringing',
  'call.accepted',
  'call.rejected',
  'call.busy',
  'call.missed',
  'call.canceled',
  'call.member.joined',
  'call.member.left',
  'call.ended',
] as const
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number]

/**
 * An event as the engine or the store makes it, before it is numbered: the store gives each its
 * `seq`, one more than the call's last, when it writes it.
 */
export interface NewWebhookEvent {
  type: WebhookEventType
  /** When it happened, epoch ms. */
  at: number
  /** Everything of `data` but `callId` and `seq`, which the body gets from the row. */
  data: Record<string, unknown>
}

/** A stored event, as delivered: what the signature covers is made from these fields alone. */
export interface WebhookEvent {
  id: string
  appKey: string
  callId: string
  seq: number
  type: WebhookEventType
  at: number
  /** `data` as JSON text, its keys in the order written. */
  data: string
}

/**
 * The body of a delivery: `{type, timestamp, data}` with `data.callId` and `data.seq` first. The
 * same event makes the same bytes on every node and every attempt.
 */
export function webhookBody(event: WebhookEvent): string {
  const data = { callId: event.callId, seq: event.seq, ...(JSON.parse(event.data) as Record<string, unknown>) }
  return JSON.stringify({ type: event.type, timestamp: new Date(event.at).toISOString(), data })
}

/** `call.ringing`: the call rings `callees`; `offlineCallees` have no device online to ring. */
export function ringingEvent(state: CallState, callees: string[], offlineCallees: string[]): NewWebhookEvent {
  return {
    type: 'call.ringing',
    at: state.createdAt,
    data: {
      call: {
        type: state.type,
        isGroup: state.isGroup,
        startedAt: state.createdAt,
        expiresAt: state.expiresAt,
        ...(state.attachment ? { attachment: state.attachment } : {}),
      },
      caller: state.caller.accid,
      callees,
      offlineCallees,
    },
  }
}

/**
 * What a change of a call tells a backend: a 1:1 call answered, or a group call's members
 * answering, declining, missing, joining and leaving, the change that ends it included. The end
 * itself (and a 1:1 call's outcome) is told from the record.
 */
export function liveEvents(
  before: CallState,
  after: CallState,
  now: number,
  offline: readonly string[] = [],
): NewWebhookEvent[] {
  if (!after.isGroup) {
    if (after.phase === 'ended') return []
    if (before.phase === 'ringing' && after.phase === 'active') {
      return [{ type: 'call.accepted', at: after.connectedAt, data: { accid: after.answeredBy.accid } }]
    }
    return []
  }
  const events: NewWebhookEvent[] = []
  const was = new Map(before.members.map((m) => [m.accid, m]))
  const ringing: string[] = []
  for (const member of after.members) {
    const old = was.get(member.accid)
    const data = { accid: member.accid }
    if (old?.status === member.status) {
      // A joined member stays `joined` while out of the call: `leftAt` tells it went, and came back.
      if (member.status !== 'joined' || (old.leftAt === undefined) === (member.leftAt === undefined)) continue
      events.push({ type: member.leftAt === undefined ? 'call.member.joined' : 'call.member.left', at: now, data })
    } else if (member.status === 'ringing') ringing.push(member.accid)
    else events.push(...memberEvents(member.accid, old?.status, member.status, now))
  }
  const callerLeft = before.callerLeftAt === undefined && after.callerLeftAt !== undefined
  const callerBack = before.callerLeftAt !== undefined && after.callerLeftAt === undefined
  if (callerLeft) events.push({ type: 'call.member.left', at: now, data: { accid: after.caller.accid } })
  if (callerBack) events.push({ type: 'call.member.joined', at: now, data: { accid: after.caller.accid } })
  // Members invited into a call going on; `offline`: those of them with no device online.
  const unreachable = ringing.filter((accid) => offline.includes(accid))
  if (ringing.length > 0) events.unshift({ ...ringingEvent(after, ringing, unreachable), at: now })
  return events
}

function memberEvents(
  accid: string,
  from: LiveMemberStatus | undefined,
  to: LiveMemberStatus,
  at: number,
): NewWebhookEvent[] {
  const data = { accid }
  switch (to) {
    case 'joined':
      return from === 'ringing'
        ? [
            { type: 'call.accepted', at, data },
            { type: 'call.member.joined', at, data },
          ]
        : [{ type: 'call.member.joined', at, data }]
    case 'rejected':
      return [{ type: 'call.rejected', at, data }]
    case 'busy':
      return [{ type: 'call.busy', at, data }]
    case 'missed':
      return [{ type: 'call.missed', at, data }]
    case 'canceled':
      return [{ type: 'call.canceled', at, data }]
    default:
      return []
  }
}

/**
 * What a record tells a backend, written in the record's own transaction: for a 1:1 call that
 * never connected, how it ended (canceled, rejected, missed, busy); then `call.ended` with the
 * record. A group call's members were told of one by one as the call went.
 */
export function endEvents(record: CallRecord): NewWebhookEvent[] {
  const ended: NewWebhookEvent = { type: 'call.ended', at: record.endedAt, data: { record } }
  if (record.isGroup || record.status === RECORD_STATUS.completed) return [ended]
  const callee = record.callees[0] ?? ''
  const outcome: Record<Exclude<CallRecord['status'], 1>, NewWebhookEvent> = {
    [RECORD_STATUS.canceled]: { type: 'call.canceled', at: record.endedAt, data: { by: record.caller } },
    [RECORD_STATUS.rejected]: { type: 'call.rejected', at: record.endedAt, data: { accid: callee } },
    [RECORD_STATUS.timeout]: { type: 'call.missed', at: record.endedAt, data: { accid: callee } },
    [RECORD_STATUS.busy]: { type: 'call.busy', at: record.endedAt, data: { accid: callee } },
  }
  return [outcome[record.status], ended]
}

/** Whether an endpoint registered for `events` (none: all) takes events of `type`. */
export const wants = (events: readonly string[] | null, type: string): boolean =>
  events === null || events.includes(type)
