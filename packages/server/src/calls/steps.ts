import type { DeviceRef, EndReason, ErrorCode, GroupMember, ServerEvent } from '@ringkit/protocol'
import type { Audience, CallState, Effect, MediaOff, Member, TransitionResult } from './types.ts'

/** The building blocks both transition tables (1:1 and group) are written with. */

export type Live<P extends CallState['phase'] = 'ringing' | 'active'> = Extract<CallState, { phase: P }>

export const send = (to: Audience, event: ServerEvent): Effect => ({ kind: 'send', to, event })
export const ok = (state: CallState, effects: Effect[]): TransitionResult => ({ ok: true, state, effects })
export const fail = (code: ErrorCode, message: string): TransitionResult => ({ ok: false, code, message })
export const notInCall = () => fail('NOT_IN_CALL', 'this device is not a party to the call')

export function sameDevice(a: DeviceRef, b: DeviceRef): boolean {
  return a.accid === b.accid && a.deviceId === b.deviceId
}

export function setMember(members: Member[], accid: string, patch: Partial<Member>): Member[] {
  return members.map((m) => (m.accid === accid ? { ...m, ...patch } : m))
}

/** When a member's ringing gives up: its own deadline (members invited later ring later), or the call's. */
export function ringsUntil(s: CallState, m: Member): number {
  return m.expiresAt ?? s.expiresAt
}

/** When the call's next ringing gives up: the earliest deadline of a member it still rings. */
export function nextDeadline(s: CallState): number | undefined {
  if (s.phase === 'ended') return undefined
  const ringing = s.members.filter((m) => m.status === 'ringing').map((m) => ringsUntil(s, m))
  return ringing.length > 0 ? Math.min(...ringing) : undefined
}

export function isRinging(s: CallState, accid: string): boolean {
  return s.members.some((m) => m.accid === accid && m.status === 'ringing')
}

/** Group calls: the devices in the call now, the caller's first while it has not left. */
export function presentDevices(s: CallState): DeviceRef[] {
  const present = s.callerLeftAt === undefined ? [s.caller] : []
  for (const m of s.members) if (m.device && m.status === 'joined' && m.leftAt === undefined) present.push(m.device)
  return present
}

export function isPresent(s: CallState, device: DeviceRef): boolean {
  return presentDevices(s).some((d) => sameDevice(d, device))
}

/** The devices a call cannot outlive: the caller's while 1:1, the answering one's too once active. */
export function carriers(s: Live): DeviceRef[] {
  if (s.isGroup) return presentDevices(s)
  return s.phase === 'active' ? [s.caller, s.answeredBy] : [s.caller]
}

/** Group calls: the accounts the call holds (none may take another call): those in it and those it rings. */
export function holders(s: CallState): Set<string> {
  const ringing = s.members.filter((m) => m.status === 'ringing').map((m) => m.accid)
  return new Set([...presentDevices(s).map((d) => d.accid), ...ringing])
}

/** Group calls: where everyone stands, and who has the microphone or camera off, as the `members` event tells it. */
export function groupMembers(s: CallState): GroupMember[] {
  const caller: GroupMember = {
    accid: s.caller.accid,
    status: s.callerLeftAt === undefined ? 'joined' : 'left',
    ...offFlags(s.callerLeftAt === undefined ? s.callerOff : undefined),
  }
  return [
    caller,
    ...s.members.map((m): GroupMember => {
      const inCall = m.status === 'joined' && m.leftAt === undefined
      return {
        accid: m.accid,
        status: m.status === 'joined' && !inCall ? 'left' : m.status,
        ...offFlags(inCall ? m.off : undefined),
      }
    }),
  ]
}

function offFlags(off: MediaOff | undefined): Pick<GroupMember, 'micOff' | 'cameraOff'> {
  return { ...(off?.audio ? { micOff: true } : {}), ...(off?.video ? { cameraOff: true } : {}) }
}

/** Ends the call: `callEnd` to every device still in it, after `before`. The engine writes the record. */
export function end(s: Live, reason: EndReason, now: number, by?: string, before: Effect[] = []): TransitionResult {
  const ended: Live<'ended'> = {
    ...s,
    phase: 'ended',
    reason,
    endedAt: now,
    members: s.members.map((m) => finalMember(m, reason, now)),
    ...(by === undefined ? {} : { by }),
    ...(s.phase === 'active' ? { connectedAt: s.connectedAt } : {}),
  }
  const callEnd: ServerEvent = { name: 'callEnd', data: { callId: s.callId, reason, ...(by ? { by } : {}) } }
  return ok(ended, [...before, ...callDevices(s).map((to) => send(to, callEnd))])
}

function finalMember(m: Member, reason: EndReason, now: number): Member {
  // Someone who was in the call and was rung again, or declined or missed coming back, was still in
  // it: the record keeps that, not how the last ringing went.
  if (m.status === 'joined' || m.joinedAt !== undefined) return { ...m, status: 'joined', leftAt: m.leftAt ?? now }
  if (m.status !== 'ringing') return m
  const missed = reason === 'timeout' || reason === 'interrupted'
  return { ...m, status: missed ? 'missed' : 'canceled' }
}

/**
 * Everyone the call reaches now. 1:1: the caller's device and, per callee, the answering device or
 * all of them while it rings. Group: the devices in the call and every device of a member it rings.
 */
export function callDevices(s: Live): Audience[] {
  if (s.isGroup) {
    const ringing = s.members.filter((m) => m.status === 'ringing').map((m) => ({ account: m.accid }))
    return [...presentDevices(s).map((device) => ({ device })), ...ringing]
  }
  if (s.phase === 'active') return [{ device: s.caller }, { device: s.answeredBy }]
  // A busy callee was never rung: it hears of the call only through its record.
  const rung = s.members.filter((m) => m.status !== 'busy').map((m) => m.accid)
  return [{ device: s.caller }, ...rung.map((account) => ({ account }))]
}
