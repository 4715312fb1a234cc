import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { ServerEvent } from '@ringkit/protocol'
import { DEFAULT_LIMITS } from '../src/limits.ts'
import { settleHeldCalls, type HeldCallsPorts } from '../src/signal/held-calls.ts'
import { Session } from '../src/signal/Session.ts'
import { pino } from 'pino'

/** A session whose numbered frames are read back from its outbox through a resume. */
function session(continued?: { lastSeq: number; frames: { seq: number; text: string }[] }) {
  return new Session({
    sessionId: 's',
    appKey: 'app',
    accid: 'alice',
    deviceId: 'alice-1',
    limits: DEFAULT_LIMITS,
    ...(continued ? { continued } : {}),
  })
}

/** What the session numbered after `lastSeq`, as the device would get it on resuming. */
function numbered(s: Session, lastSeq = 0): { seq: number; name: string; data: Record<string, unknown> }[] {
  const sent: string[] = []
  const socket = { readyState: 1, OPEN: 1, bufferedAmount: 0, send: (text: string) => sent.push(text) }
  assert.ok(s.resume(socket as never, lastSeq))
  return sent.map((text) => JSON.parse(text) as { seq: number; name: string; data: Record<string, unknown> })
}

const signal = (n: number): ServerEvent => ({
  name: 'signal',
  data: { callId: 'c', from: { accid: 'bob', deviceId: 'bob-1' }, data: { n } },
})
const callEnd = (callId: string): ServerEvent => ({ name: 'callEnd', data: { callId, reason: 'hangup' } })
const record = (callId: string) =>
  ({
    name: 'record',
    data: {
      callId,
      type: 'audio',
      caller: 'bob',
      callees: ['alice'],
      isGroup: false,
      status: 1,
      endReason: 'hangup',
      startedAt: 0,
      endedAt: 1,
      durationSeconds: 0,
      members: [],
    },
  }) as ServerEvent

describe('a session taking events from a dead node', () => {
  it('numbers the dead inbox\u2019s events first, then those held meanwhile, each entry once', () => {
    const s = session()
    s.holdEvents()
    s.event(signal(3), undefined, 'node-b/7-0')
    // The same entry read live here (this node took over a session of its earlier run) and from its inbox.
    s.event(signal(2), undefined, 'node-a/2-0')
    s.takeEvents([
      { event: signal(1), origin: 'node-a/1-0' },
      { event: signal(2), origin: 'node-a/2-0' },
    ])
    assert.equal(s.tookOrigin('node-a/2-0'), true)
    assert.equal(s.tookOrigin('node-b/7-0'), false)
    // A copy carried on later by the node that woke up: the caller drops it on seeing the origin.
    s.takeEvents([{ event: signal(1), origin: 'node-a/1-0' }])
    const frames = numbered(s)
    assert.deepEqual(
      frames.map((f) => (f.data.data as { n: number }).n),
      [1, 2, 3],
    )
    assert.deepEqual(
      frames.map((f) => f.seq),
      [1, 2, 3],
    )
  })

  it('numbers a call\u2019s record once, and nothing of the call after it, not even a late invite', () => {
    const s = session()
    s.event(callEnd('c1'))
    s.event(record('c1'))
    s.event(callEnd('c1'))
    s.event(record('c1'))
    // A late copy of the call's invite rings nothing.
    s.event({
      name: 'invited',
      data: {
        callId: 'c1',
        from: 'bob',
        type: 'audio',
        isGroup: false,
        members: ['bob', 'alice'],
        media: 'p2p',
        expiresAt: 9,
        iceServers: [],
      },
    } as ServerEvent)
    // A group member that left gets its own callEnd, and the call's end later: both count.
    s.event(callEnd('c2'))
    s.event(callEnd('c2'))
    assert.equal(s.endedCall('c1'), true)
    assert.equal(s.endedCall('c3'), false)
    assert.deepEqual(
      numbered(s).map((f) => `${f.name}:${String(f.data.callId)}`),
      ['callEnd:c1', 'record:c1', 'callEnd:c2', 'callEnd:c2'],
    )
  })

  it('knows the ends in the frames it took over from a log', () => {
    const text = `{"type":"event","seq":4,"name":"record","data":${JSON.stringify(record('c9').data)}}`
    const s = session({ lastSeq: 4, frames: [{ seq: 4, text }] })
    assert.equal(s.endedCall('c9'), true)
    s.event(record('c9'))
    assert.deepEqual(
      numbered(s, 3).map((f) => f.seq),
      [4],
    )
  })
})

describe('the calls a device holds', () => {
  it('end for it once over with their record, after a while; one over without a record is let go in time', async () => {
    const s = session()
    s.holdsCall('over', 0)
    s.holdsCall('live', 0)
    s.holdsCall('lost', 0)
    s.holdsCall('ended', 0)
    s.event(callEnd('ended'))
    const rec = record('over').data as Extract<ServerEvent, { name: 'record' }>['data']
    let now = 1_000
    const ports: HeldCallsPorts = {
      live: async (callId) => callId === 'live',
      record: async (_s, callId) => (callId === 'over' ? rec : undefined),
      held: () => true,
      log: pino({ level: 'silent' }),
      now: () => now,
    }
    await settleHeldCalls(ports, [s])
    assert.deepEqual(
      numbered(s).map((f) => f.name),
      ['callEnd'],
      'too soon: its own end may be on its way',
    )
    now = 5_000
    await settleHeldCalls(ports, [s])
    await settleHeldCalls(ports, [s])
    assert.deepEqual(
      numbered(s, 1).map((f) => `${f.name}:${String(f.data.callId)}`),
      ['callEnd:over', 'record:over'],
    )
    assert.deepEqual(
      s.heldCalls().map(([id]) => id),
      ['live', 'lost'],
    )
    now = 70_000
    await settleHeldCalls(ports, [s])
    assert.deepEqual(
      s.heldCalls().map(([id]) => id),
      ['live'],
    )
  })
})
