import type { CallType, DeviceRef, ServerEvent } from '@ringkit/protocol'
import { groupTransition } from './group.ts'
import { callDevices, end, fail, isRinging as isCallee, notInCall, ok, sameDevice, send, setMember } from './steps.ts'
import type { Audience, CallInput, CallPhase, CallState, Effect, TransitionResult } from './types.ts'

export { end, sameDevice } from './steps.ts'

/**
 * The call lifecycle, as a pure function: one table of (phase, input) → handler. The engine applies
 * the result and performs its effects; nothing else changes call state.
 */
export function transition(state: CallState, input: CallInput, now: number): TransitionResult {
  // Checked before the phase: an outsider is told it is not in the call, and learns nothing of its state.
  if ('by' in input && input.by.accid !== state.caller.accid && !state.callees.includes(input.by.accid)) {
    return notInCall()
  }
  if (state.isGroup) return groupTransition(state, input, now)
  const handler = TABLE[state.phase][input.kind] as Handler<CallInput['kind']> | undefined
  if (!handler) return fail('INVALID_STATE', `cannot ${input.kind} a call that is ${state.phase}`)
  return handler(state as never, input as never, now)
}

type Live<P extends CallPhase> = Extract<CallState, { phase: P }>
type Input<K extends CallInput['kind']> = Extract<CallInput, { kind: K }>
type Handler<K extends CallInput['kind'], P extends CallPhase = CallPhase> = (
  state: Live<P>,
  input: Input<K>,
  now: number,
) => TransitionResult
type PhaseTable<P extends CallPhase> = { [K in CallInput['kind']]?: Handler<K, P> }

const TABLE: { [P in CallPhase]: PhaseTable<P> } = {
  ringing: {
    accept: (s, { by }, now) => {
      if (!isCallee(s, by.accid)) return notInCall()
      const active: Live<'active'> = {
        ...s,
        phase: 'active',
        connectedAt: now,
        answeredBy: by,
        members: setMember(s.members, by.accid, { status: 'joined', joinedAt: now }),
      }
      return ok(active, [
        send({ device: s.caller }, { name: 'userAccept', data: { callId: s.callId, accid: by.accid } }),
        send(
          { account: by.accid, exceptDevice: by.deviceId },
          { name: 'otherClientAccept', data: { callId: s.callId, deviceId: by.deviceId } },
        ),
      ])
    },
    reject: (s, { by }, now) => rejectRinging(s, by, now),
    cancel: (s, { by }, now) => cancelRinging(s, by, now),
    // Hanging up a call that still rings: the caller cancels it, a callee declines it.
    hangup: (s, { by }, now) => (isCallee(s, by.accid) ? rejectRinging(s, by, now) : cancelRinging(s, by, now)),
    timeout: (s, _input, now) =>
      end(s, 'timeout', now, undefined, [
        send({ device: s.caller }, { name: 'callingTimeout', data: { callId: s.callId } }),
        ...s.callees.map((accid) => send({ account: accid }, { name: 'callingTimeout', data: { callId: s.callId } })),
      ]),
    deviceLost: (s, { device, reason }, now) =>
      sameDevice(device, s.caller) ? end(s, reason, now, device.accid) : ok(s, []),
    interrupt: (s, _input, now) => end(s, 'interrupted', now),
    mediaState: (s, input) => (sameDevice(input.by, s.caller) ? mediaState(s, input) : notInCall()),
  },
  active: {
    hangup: (s, { by, failed }, now) =>
      inCall(s, by) ? end(s, failed ? 'failed' : 'hangup', now, by.accid) : notInCall(),
    deviceLost: (s, { device, reason }, now) => (inCall(s, device) ? end(s, reason, now, device.accid) : ok(s, [])),
    interrupt: (s, _input, now) => end(s, 'interrupted', now),
    mediaState: (s, input) => (inCall(s, input.by) ? mediaState(s, input) : notInCall()),
    switchType: (s, { by, type }) => {
      if (!inCall(s, by)) return notInCall()
      if (type === s.type) return ok(s, [])
      if (s.pendingSwitch) return fail('SWITCH_PENDING', 'a call type switch is already waiting for an answer')
      if (type === 'audio') return ok({ ...s, type }, typeChangeToBoth(s, type, 'switched', by.accid))
      // Turning cameras on needs the other side's consent.
      return ok({ ...s, pendingSwitch: { type, by: by.accid } }, [
        send(
          { device: otherDevice(s, by) },
          { name: 'callTypeChange', data: { callId: s.callId, type, state: 'invite', by: by.accid } },
        ),
      ])
    },
    switchTypeReply: (s, { by, accept }) => {
      if (!inCall(s, by)) return notInCall()
      const pending = s.pendingSwitch
      if (!pending || pending.by === by.accid) return fail('INVALID_STATE', 'no call type switch is waiting for you')
      const rest = { ...s, pendingSwitch: undefined }
      if (!accept) {
        return ok(rest, [
          send(
            { device: otherDevice(s, by) },
            { name: 'callTypeChange', data: { callId: s.callId, type: pending.type, state: 'reject', by: by.accid } },
          ),
        ])
      }
      return ok({ ...rest, type: pending.type }, typeChangeToBoth(s, pending.type, 'accept', by.accid))
    },
  },
  ended: {},
}

function rejectRinging(s: Live<'ringing'>, by: DeviceRef, now: number): TransitionResult {
  if (!isCallee(s, by.accid)) return notInCall()
  const members = setMember(s.members, by.accid, { status: 'rejected' })
  return end({ ...s, members }, 'rejected', now, by.accid, [
    send({ device: s.caller }, { name: 'userReject', data: { callId: s.callId, accid: by.accid } }),
    send(
      { account: by.accid, exceptDevice: by.deviceId },
      { name: 'otherClientReject', data: { callId: s.callId, deviceId: by.deviceId } },
    ),
  ])
}

function cancelRinging(s: Live<'ringing'>, by: DeviceRef, now: number): TransitionResult {
  if (!sameDevice(by, s.caller)) return notInCall()
  return end(
    s,
    'canceled',
    now,
    by.accid,
    s.callees.map((accid) =>
      send({ account: accid }, { name: 'userCancel', data: { callId: s.callId, accid: by.accid } }),
    ),
  )
}

function mediaState(s: Live<'ringing' | 'active'>, input: Input<'mediaState'>): TransitionResult {
  const effects: Effect[] = []
  const others = peersOf(s, input.by)
  const accid = input.by.accid
  for (const to of others) {
    if (input.audio !== undefined) {
      effects.push(send(to, { name: 'audioAvailable', data: { callId: s.callId, accid, available: input.audio } }))
    }
    if (input.video !== undefined) {
      effects.push(send(to, { name: 'videoAvailable', data: { callId: s.callId, accid, available: input.video } }))
    }
  }
  return ok(s, effects)
}

function peersOf(s: Live<'ringing' | 'active'>, me: DeviceRef): Audience[] {
  return callDevices(s).filter((a) => !('device' in a && sameDevice(a.device, me)))
}

function otherDevice(s: Live<'active'>, me: DeviceRef): DeviceRef {
  return sameDevice(me, s.caller) ? s.answeredBy : s.caller
}

function typeChangeToBoth(s: Live<'active'>, type: CallType, state: 'switched' | 'accept', by: string): Effect[] {
  const event: ServerEvent = { name: 'callTypeChange', data: { callId: s.callId, type, state, by } }
  return [send({ device: s.caller }, event), send({ device: s.answeredBy }, event)]
}

function inCall(s: Live<'active'>, d: DeviceRef): boolean {
  return sameDevice(d, s.caller) || sameDevice(d, s.answeredBy)
}
