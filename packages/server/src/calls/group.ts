import type { DeviceRef, EndReason, JoinResult, ServerEvent } from '@ringkit/protocol'
import {
  end,
  fail,
  groupMembers,
  isPresent,
  isRinging,
  notInCall,
  ok,
  presentDevices,
  ringsUntil,
  sameDevice,
  send,
  setMember,
  type Live,
} from './steps.ts'
import type { CallInput, CallState, Effect, MediaOff, Member, TransitionResult } from './types.ts'

/**
 * Group calls. The rule users program against:
 * - every callee rings on its own clock; each answer, decline, busy or timeout is told to the
 *   members in the call, and the call goes on;
 * - `leave` (or `hangup` by anyone but the caller) takes one member out; the call goes on;
 * - `hangup` by the caller ends the call for everyone; before anyone answered it cancels it;
 * - the call ends by itself when nobody is left to talk to: no one in it, or one member alone
 *   with nobody still ringing;
 * - a callee who declined, missed or left may `join` again while the call lives.
 */
export function groupTransition(s: CallState, input: CallInput, now: number): TransitionResult {
  if (s.phase === 'ended') return fail('INVALID_STATE', `cannot ${input.kind} a call that is ended`)
  const handler = TABLE[input.kind] as Handler<CallInput['kind']> | undefined
  if (!handler) return fail('INVALID_STATE', 'a group call keeps the type it started with')
  return handler(s, input as never, now)
}

type Input<K extends CallInput['kind']> = Extract<CallInput, { kind: K }>
type Handler<K extends CallInput['kind']> = (s: Live, input: Input<K>, now: number) => TransitionResult

const TABLE: { [K in CallInput['kind']]?: Handler<K> } = {
  accept: (s, { by }, now) => (isRinging(s, by.accid) ? enter(s, by, now) : notRinging()),
  join: (s, { by }, now) => {
    if (by.accid === s.caller.accid) {
      if (s.callerLeftAt === undefined) return fail('INVALID_STATE', 'already in the call')
      return ok({ ...s, caller: by, callerLeftAt: undefined, callerOff: undefined }, toOthers(s, by, userAccept(s, by)))
    }
    // A party other than the caller is a callee, and every callee has its member entry.
    const member = s.members.find((m) => m.accid === by.accid)!
    if (member.status === 'joined' && member.leftAt === undefined) return fail('INVALID_STATE', 'already in the call')
    return enter(s, by, now)
  },
  reject: (s, { by }, now) => reject(s, by, now),
  cancel: (s, { by }, now) => {
    if (!sameDevice(by, s.caller)) return notInCall()
    if (s.phase !== 'ringing') return fail('INVALID_STATE', 'someone answered: hang up to end the call, or leave it')
    return cancel(s, now)
  },
  hangup: (s, { by, failed }, now) => {
    if (s.callerLeftAt === undefined && sameDevice(by, s.caller)) {
      return s.phase === 'ringing' ? cancel(s, now) : end(s, failed ? 'failed' : 'hangup', now, by.accid)
    }
    if (isRinging(s, by.accid)) return reject(s, by, now)
    return leave(s, by, now, 'hangup')
  },
  leave: (s, { by }, now) => leave(s, by, now, 'hangup'),
  invite: (s, { by, ringing, busy, expiresAt }, now) => {
    if (!isPresent(s, by)) return notInCall()
    let members = s.members
    const callees = [...s.callees]
    const put = (accid: string, patch: Partial<Member>) => {
      if (!callees.includes(accid)) {
        callees.push(accid)
        members = [...members, { accid, status: 'ringing' }]
      }
      members = setMember(members, accid, patch)
    }
    for (const accid of ringing) put(accid, { status: 'ringing', expiresAt })
    for (const accid of busy) put(accid, { status: 'busy' })
    const busyEvents = busy.flatMap((accid) => toPresent(s, { name: 'userBusy', data: { callId: s.callId, accid } }))
    // Everyone rung at the start may be busy: then nobody is left to ring and the call ends.
    return settle({ ...s, callees, members }, now, undefined, busyEvents)
  },
  timeout: (s, _input, now) => {
    const expired = s.members.filter((m) => m.status === 'ringing' && ringsUntil(s, m) <= now)
    if (expired.length === 0) return ok(s, [])
    let members = s.members
    const effects: Effect[] = []
    for (const { accid } of expired) {
      members = setMember(members, accid, { status: 'missed' })
      effects.push(
        ...toPresent(s, { name: 'callingTimeout', data: { callId: s.callId, accid } }),
        send({ account: accid }, { name: 'callingTimeout', data: { callId: s.callId } }),
        send({ account: accid }, { name: 'callEnd', data: { callId: s.callId, reason: 'timeout' } }),
      )
    }
    return settle({ ...s, members }, now, undefined, effects)
  },
  deviceLost: (s, { device, reason }, now) => {
    if (!isPresent(s, device)) return ok(s, [])
    if (s.phase === 'ringing' && sameDevice(device, s.caller)) return end(s, reason, now, device.accid)
    return leave(s, device, now, reason)
  },
  interrupt: (s, _input, now) => end(s, 'interrupted', now),
  mediaServerLost: (s, _input, now) => end(s, 'mediaServerLost', now),
  mediaState: (s, { by, audio, video }) => {
    if (!isPresent(s, by)) return notInCall()
    const events: ServerEvent[] = []
    const base = { callId: s.callId, accid: by.accid }
    if (audio !== undefined) events.push({ name: 'audioAvailable', data: { ...base, available: audio } })
    if (video !== undefined) events.push({ name: 'videoAvailable', data: { ...base, available: video } })
    // Kept, so that whoever comes in later learns it from the members list.
    const off = (was: MediaOff | undefined): MediaOff => ({
      ...was,
      ...(audio === undefined ? {} : { audio: !audio }),
      ...(video === undefined ? {} : { video: !video }),
    })
    const kept: Live =
      s.callerLeftAt === undefined && sameDevice(by, s.caller)
        ? { ...s, callerOff: off(s.callerOff) }
        : {
            ...s,
            members: setMember(s.members, by.accid, { off: off(s.members.find((m) => m.accid === by.accid)?.off) }),
          }
    return ok(
      kept,
      events.flatMap((event) => toOthers(s, by, event)),
    )
  },
}

/** A ringing member declines: the others are told, its other devices stop ringing. */
function reject(s: Live, by: DeviceRef, now: number): TransitionResult {
  if (!isRinging(s, by.accid)) return notRinging()
  const rejected = { ...s, members: setMember(s.members, by.accid, { status: 'rejected' }) }
  return settle(rejected, now, by.accid, [
    ...toPresent(s, { name: 'userReject', data: { callId: s.callId, accid: by.accid } }),
    otherClients(s, by, 'otherClientReject'),
    send({ device: by }, { name: 'callEnd', data: { callId: s.callId, reason: 'rejected', by: by.accid } }),
  ])
}

/** A ringing member answers, or one who declined, missed or left comes (back) in. */
function enter(s: Live, by: DeviceRef, now: number): TransitionResult {
  const wasRinging = isRinging(s, by.accid)
  const first = s.members.find((m) => m.accid === by.accid)?.joinedAt
  const members = setMember(s.members, by.accid, {
    status: 'joined',
    device: by,
    joinedAt: first ?? now,
    leftAt: undefined,
    expiresAt: undefined,
    off: undefined,
  })
  const effects = [
    ...toOthers(s, by, userAccept(s, by)),
    ...(wasRinging ? [otherClients(s, by, 'otherClientAccept')] : []),
  ]
  if (s.phase === 'active') return ok({ ...s, members }, effects)
  return ok({ ...s, members, phase: 'active', connectedAt: now, answeredBy: by }, effects)
}

function leave(s: Live, by: DeviceRef, now: number, reason: EndReason): TransitionResult {
  if (!isPresent(s, by)) return notInCall()
  // While it rings, the caller is the only one in the call.
  if (s.phase === 'ringing') return cancel(s, now)
  const left: Live =
    s.callerLeftAt === undefined && sameDevice(by, s.caller)
      ? { ...s, callerLeftAt: now }
      : { ...s, members: setMember(s.members, by.accid, { leftAt: now }) }
  return settle(left, now, by.accid, [
    send({ device: by }, { name: 'callEnd', data: { callId: s.callId, reason, by: by.accid } }),
    ...toPresent(left, { name: 'userLeave', data: { callId: s.callId, accid: by.accid } }),
  ])
}

function cancel(s: Live, now: number): TransitionResult {
  const ringing = s.members.filter((m) => m.status === 'ringing')
  return end(
    s,
    'canceled',
    now,
    s.caller.accid,
    ringing.map(({ accid }) =>
      send({ account: accid }, { name: 'userCancel', data: { callId: s.callId, accid: s.caller.accid } }),
    ),
  )
}

/** Ends the call when nobody is left to talk to; else keeps it with `effects`. */
function settle(s: Live, now: number, by: string | undefined, effects: Effect[]): TransitionResult {
  const ringing = s.members.some((m) => m.status === 'ringing')
  if (s.phase === 'ringing') {
    if (ringing) return ok(s, effects)
    // Nobody answered: the record tells the most telling reason of all the callees.
    const statuses = new Set(s.members.map((m) => m.status))
    const reason = statuses.has('missed') ? 'timeout' : statuses.has('rejected') ? 'rejected' : 'busy'
    return end(s, reason, now, by, effects)
  }
  const present = presentDevices(s).length
  if (present === 0 || (present === 1 && !ringing)) return end(s, 'hangup', now, by, effects)
  return ok(s, effects)
}

/** Outsiders never get here: transition() turned them away. */
function notRinging(): TransitionResult {
  return fail('INVALID_STATE', 'this call is not ringing you')
}

function userAccept(s: CallState, by: DeviceRef): ServerEvent {
  return { name: 'userAccept', data: { callId: s.callId, accid: by.accid } }
}

function otherClients(s: CallState, by: DeviceRef, name: 'otherClientAccept' | 'otherClientReject'): Effect {
  return send(
    { account: by.accid, exceptDevice: by.deviceId },
    { name, data: { callId: s.callId, deviceId: by.deviceId } },
  )
}

/** `event` to every device in the call. */
function toPresent(s: CallState, event: ServerEvent): Effect[] {
  return presentDevices(s).map((device) => send({ device }, event))
}

/** `event` to every device in the call but `me`'s. */
function toOthers(s: CallState, me: DeviceRef, event: ServerEvent): Effect[] {
  return presentDevices(s)
    .filter((d) => d.accid !== me.accid)
    .map((device) => send({ device }, event))
}

/** A group call's answer tells the device how media goes and, in a mesh, whom to offer it to. */
export function joinResult(state: CallState, me: DeviceRef): JoinResult {
  if (!state.isGroup) return {}
  const { type, caller, callees, attachment } = state
  return {
    media: state.media,
    peers: presentDevices(state).filter((d) => !sameDevice(d, me)),
    call: { type, caller: caller.accid, callees, members: groupMembers(state), ...(attachment ? { attachment } : {}) },
  }
}
