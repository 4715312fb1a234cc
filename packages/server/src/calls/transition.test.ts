import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { end, transition } from './transition.ts'
import type { CallInput, CallState, Effect } from './types.ts'

const alice = { accid: 'alice', deviceId: 'a1' }
const bob1 = { accid: 'bob', deviceId: 'b1' }
const bob2 = { accid: 'bob', deviceId: 'b2' }
const carol = { accid: 'carol', deviceId: 'c1' }

const ringing: CallState = {
  phase: 'ringing',
  callId: 'c',
  appKey: 'app',
  type: 'video',
  caller: alice,
  callees: ['bob'],
  isGroup: false,
  media: 'p2p',
  createdAt: 1000,
  expiresAt: 31_000,
  members: [{ accid: 'bob', status: 'ringing' }],
}

function step(state: CallState, input: CallInput, now = 2000) {
  const result = transition(state, input, now)
  assert.ok(result.ok, `expected ${input.kind} to apply: ${result.ok ? '' : result.message}`)
  return result
}

const sent = (effects: Effect[]) =>
  effects.map((e) => `${e.event.name}→${'device' in e.to ? e.to.device.deviceId : `${e.to.account}*`}`)

describe('transition', () => {
  it('accept connects, tells the caller, and stops the other devices of the callee', () => {
    const { state, effects } = step(ringing, { kind: 'accept', by: bob2 })
    assert.equal(state.phase, 'active')
    assert.deepEqual(sent(effects), ['userAccept→a1', 'otherClientAccept→bob*'])
    assert.deepEqual(effects[1]?.to, { account: 'bob', exceptDevice: 'b2' })
  })

  it('each ending from ringing maps to its reason and tells everyone still in the call', () => {
    const cases: [CallInput, string, string[]][] = [
      [{ kind: 'cancel', by: alice }, 'canceled', ['userCancel→bob*', 'callEnd→a1', 'callEnd→bob*']],
      [
        { kind: 'reject', by: bob1 },
        'rejected',
        ['userReject→a1', 'otherClientReject→bob*', 'callEnd→a1', 'callEnd→bob*'],
      ],
      [
        { kind: 'hangup', by: bob1 },
        'rejected',
        ['userReject→a1', 'otherClientReject→bob*', 'callEnd→a1', 'callEnd→bob*'],
      ],
      [{ kind: 'hangup', by: alice }, 'canceled', ['userCancel→bob*', 'callEnd→a1', 'callEnd→bob*']],
      [{ kind: 'timeout' }, 'timeout', ['callingTimeout→a1', 'callingTimeout→bob*', 'callEnd→a1', 'callEnd→bob*']],
      [{ kind: 'deviceLost', device: alice, reason: 'disconnected' }, 'disconnected', ['callEnd→a1', 'callEnd→bob*']],
      [{ kind: 'interrupt' }, 'interrupted', ['callEnd→a1', 'callEnd→bob*']],
    ]
    for (const [input, reason, events] of cases) {
      const { state, effects } = step(ringing, input)
      assert.equal(state.phase, 'ended', input.kind)
      assert.equal(state.phase === 'ended' && state.reason, reason, input.kind)
      assert.deepEqual(sent(effects), events, input.kind)
    }
  })

  it('a callee device dropping while ringing does not end the call', () => {
    const { state, effects } = step(ringing, { kind: 'deviceLost', device: bob1, reason: 'disconnected' })
    assert.equal(state, ringing)
    assert.deepEqual(effects, [])
  })

  it('refuses actions from outsiders and actions that do not fit the phase', () => {
    const refusals: [CallState, CallInput, string][] = [
      [ringing, { kind: 'accept', by: carol }, 'NOT_IN_CALL'],
      [ringing, { kind: 'cancel', by: bob1 }, 'NOT_IN_CALL'],
      [ringing, { kind: 'accept', by: alice }, 'NOT_IN_CALL'],
      [ringing, { kind: 'switchType', by: alice, type: 'audio' }, 'INVALID_STATE'],
    ]
    const active = step(ringing, { kind: 'accept', by: bob1 }).state
    refusals.push(
      [active, { kind: 'accept', by: bob2 }, 'INVALID_STATE'],
      [active, { kind: 'cancel', by: alice }, 'INVALID_STATE'],
      [active, { kind: 'hangup', by: bob2 }, 'NOT_IN_CALL'],
      [active, { kind: 'switchTypeReply', by: bob1, accept: true }, 'INVALID_STATE'],
      [active, { kind: 'accept', by: carol }, 'NOT_IN_CALL'],
      [active, { kind: 'cancel', by: carol }, 'NOT_IN_CALL'],
      [ringing, { kind: 'switchType', by: carol, type: 'audio' }, 'NOT_IN_CALL'],
    )
    for (const [state, input, code] of refusals) {
      const result = transition(state, input, 3000)
      assert.equal(result.ok ? 'ok' : result.code, code, `${state.phase} ${input.kind}`)
    }
  })

  it('the answering device and the caller are the call once it is active', () => {
    const active = step(ringing, { kind: 'accept', by: bob1 }, 5000).state
    const lostOther = step(active, { kind: 'deviceLost', device: bob2, reason: 'disconnected' })
    assert.equal(lostOther.state.phase, 'active')
    const hung = step(active, { kind: 'hangup', by: bob1 }, 65_000)
    assert.equal(hung.state.phase, 'ended')
    assert.deepEqual(sent(hung.effects), ['callEnd→a1', 'callEnd→b1'])
    assert.equal(hung.state.phase === 'ended' && hung.state.connectedAt, 5000)
  })

  it('switching to audio is immediate; to video waits for the other side', () => {
    const active = step(ringing, { kind: 'accept', by: bob1 }).state
    const audio = step(active, { kind: 'switchType', by: alice, type: 'audio' })
    assert.equal(audio.state.type, 'audio')
    assert.deepEqual(sent(audio.effects), ['callTypeChange→a1', 'callTypeChange→b1'])
    const asked = step(audio.state, { kind: 'switchType', by: alice, type: 'video' })
    assert.equal(asked.state.type, 'audio')
    assert.deepEqual(sent(asked.effects), ['callTypeChange→b1'])
    const again = transition(asked.state, { kind: 'switchType', by: bob1, type: 'video' }, 3000)
    assert.equal(again.ok ? 'ok' : again.code, 'SWITCH_PENDING')
    const ownReply = transition(asked.state, { kind: 'switchTypeReply', by: alice, accept: true }, 3000)
    assert.equal(ownReply.ok ? 'ok' : ownReply.code, 'INVALID_STATE')
    const agreed = step(asked.state, { kind: 'switchTypeReply', by: bob1, accept: true })
    assert.equal(agreed.state.type, 'video')
    const declined = step(asked.state, { kind: 'switchTypeReply', by: bob1, accept: false })
    assert.equal(declined.state.type, 'audio')
    assert.deepEqual(sent(declined.effects), ['callTypeChange→a1'])
  })

  it('a call ended as busy tells only the caller: the busy callee was never rung', () => {
    const busy: CallState = { ...ringing, members: [{ accid: 'bob', status: 'busy' }] }
    const result = end(busy as Extract<CallState, { phase: 'ringing' }>, 'busy', 2000, 'bob')
    assert.ok(result.ok)
    assert.deepEqual(sent(result.effects), ['callEnd→a1'])
  })

  it('a group member who was in the call stays joined in the record when rung again and it ends', () => {
    const group: CallState = {
      ...ringing,
      isGroup: true,
      media: 'mesh',
      callees: ['bob', 'carol'],
      members: [
        { accid: 'bob', status: 'ringing' },
        { accid: 'carol', status: 'ringing' },
      ],
    }
    const inCall = step(group, { kind: 'accept', by: bob1 }, 2000)
    const out = step(inCall.state, { kind: 'leave', by: bob1 }, 3000)
    const rungAgain = step(out.state, { kind: 'invite', by: alice, ringing: ['bob'], busy: [], expiresAt: 9000 }, 4000)
    for (const last of [{ kind: 'reject', by: bob1 }, { kind: 'interrupt' }] as CallInput[]) {
      let { state } = step(rungAgain.state, last, 5000)
      if (state.phase !== 'ended') state = step(state, { kind: 'hangup', by: alice }, 6000).state
      assert.equal(state.phase, 'ended')
      const bob = state.members.find((m) => m.accid === 'bob')
      assert.deepEqual(bob && [bob.status, bob.joinedAt, bob.leftAt], ['joined', 2000, 3000], last.kind)
    }
  })
})
