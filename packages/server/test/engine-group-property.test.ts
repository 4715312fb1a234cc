import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { RingKitError, type DeviceRef } from '@ringkit/protocol'
import { CallEngine } from '../src/calls/CallEngine.ts'
import {
  APP,
  fakeDelivery,
  key,
  listsOnce,
  onFreshStores,
  type Calls,
  type Clock,
  type Store,
} from './engine-support.ts'
import { seedsBeside } from './seeds.ts'

const CALLER = 'g-ann'
/** Rung at the start; the last one is only ever invited mid-call. */
const CALLEES = ['g-bob', 'g-cat', 'g-dan']
const RING_MS = 1000
const EXPECTED_REFUSALS = new Set(['INVALID_STATE', 'NOT_IN_CALL', 'CALL_NOT_FOUND'])

type Action =
  | { kind: 'accept' | 'reject' | 'leave' | 'hangup' | 'join' | 'cancel' | 'mediaState'; device: number }
  | { kind: 'invite'; device: number; callee: number }
  | { kind: 'timeout' }
  | { kind: 'deviceLost'; device: number }
  | { kind: 'deviceOnline'; device: number }
interface Step {
  action: Action
  /** Fired without waiting for the step before: devices racing. */
  together: boolean
}

const nat = fc.nat({ max: 99 })
const byDevice = (...kinds: Array<Exclude<Action['kind'], 'invite' | 'timeout'>>) =>
  fc.record({ kind: fc.constantFrom(...kinds), device: nat }) as fc.Arbitrary<Action>
const stepsArbitrary = fc.array(
  fc.record({
    action: fc.oneof(
      { weight: 4, arbitrary: byDevice('accept') },
      { weight: 2, arbitrary: byDevice('reject', 'leave', 'hangup', 'join') },
      { weight: 1, arbitrary: byDevice('cancel', 'mediaState', 'deviceLost', 'deviceOnline') },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('invite' as const), device: nat, callee: nat }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'timeout' as const }) },
    ),
    together: fc.boolean(),
  }),
  { minLength: 1, maxLength: 18 },
)

async function run(steps: Step[], clock: Clock, { store, calls }: { store: Store; calls: Calls }) {
  // Two devices for the caller and each callee: answers race across devices too.
  const devices: DeviceRef[] = [CALLER, ...CALLEES].flatMap((accid) => [
    { accid, deviceId: `${accid}-1` },
    { accid, deviceId: `${accid}-2` },
  ])
  const fake = fakeDelivery(devices)
  const unexpected: unknown[] = []
  const engine = new CallEngine({
    store,
    calls,
    delivery: fake.delivery,
    now: () => clock.now,
    scheduler: clock.scheduler,
    onError: (error) => unexpected.push(error),
  })
  const caller = devices[0]!
  const { callId } = await engine.start(APP, caller, {
    to: CALLEES.slice(0, 2),
    callType: 'audio',
    timeoutMs: RING_MS,
    group: true,
  })
  const entered = new Set<string>()
  const attempt = async (work: () => Promise<unknown>, onDone?: () => void) => {
    try {
      await work()
      onDone?.()
    } catch (error) {
      if (!(error instanceof RingKitError) || !EXPECTED_REFUSALS.has(error.code)) unexpected.push(error)
    }
  }
  const fire = (action: Action): Promise<void> => {
    // Every ringing deadline set so far passes, and the engine's own timers act on it.
    if (action.kind === 'timeout') return clock.advance(RING_MS)
    const by = devices[action.device % devices.length]!
    switch (action.kind) {
      case 'deviceLost':
        if (!fake.online.delete(key(by))) return Promise.resolve()
        return attempt(async () => engine.deviceLost(APP, by, 'disconnected'))
      case 'deviceOnline':
        if (fake.online.has(key(by))) return Promise.resolve()
        fake.online.add(key(by))
        fake.sessions.get(key(by))!.push([])
        return attempt(async () => engine.deviceOnline(APP, by))
    }
    // A device that is offline sends nothing.
    if (!fake.online.has(key(by))) return Promise.resolve()
    switch (action.kind) {
      case 'join':
        return attempt(
          async () => engine.join(APP, callId, by),
          () => entered.add(by.accid),
        )
      case 'invite':
        return attempt(async () => engine.invite(APP, callId, by, [CALLEES[action.callee % CALLEES.length]!]))
      case 'mediaState':
        return attempt(async () => engine.act(APP, callId, { kind: 'mediaState', by, audio: false }))
      default:
        return attempt(
          async () => engine.act(APP, callId, { kind: action.kind, by }),
          () => void (action.kind === 'accept' && entered.add(by.accid)),
        )
    }
  }
  let racing: Promise<void>[] = []
  for (const step of steps) {
    if (!step.together) {
      await Promise.all(racing)
      racing = []
    }
    racing.push(fire(step.action))
  }
  await Promise.all(racing)
  // Every run ends: whatever is still live is ended as a server stop would.
  if (await engine.get(callId)) await attempt(async () => engine.act(APP, callId, { kind: 'interrupt' }))
  const timersLeft = clock.pending
  engine.close()
  return { callId, fake, unexpected, entered, timersLeft }
}

async function check(
  { callId, fake, unexpected, entered, timersLeft }: Awaited<ReturnType<typeof run>>,
  { store, calls }: { store: Store; calls: Calls },
) {
  assert.deepEqual(unexpected, [], 'only INVALID_STATE, NOT_IN_CALL and CALL_NOT_FOUND refusals')
  assert.deepEqual(fake.strays, [], 'events go only to devices of the test, records to accounts')
  assert.equal(timersLeft, 0, 'no ringing timer outlives the call')
  const record = await store.getRecord(APP, callId)
  assert.ok(record, 'the call has a record')
  for (const accid of [record.caller, ...record.callees]) {
    assert.equal(await listsOnce(store, accid, callId), 1, `${accid} lists it once`)
    assert.equal(await calls.callOf(APP, accid), undefined, `${accid} is free again`)
  }
  assert.deepEqual(await store.listJournaledCalls(), [], 'the journal is empty')
  assert.equal(await calls.get(callId), undefined, 'no live state is left')
  assert.deepEqual(
    fake.recordSends.map((s) => s.account).sort(),
    [record.caller, ...record.callees].sort(),
    'the record is sent once to each party',
  )

  for (const [deviceKey, sessions] of fake.sessions) {
    const heard = sessions.flat()
    const reached = fake.recordSends.some((s) => s.reached.includes(deviceKey))
    assert.equal(heard.filter((e) => e.name === 'record').length, reached ? 1 : 0, `${deviceKey} hears the record once`)
    // Nobody is left ringing: after the last invite of its current session, something stopped it.
    const session = sessions.at(-1)!
    const lastInvite = session.findLastIndex((e) => e.name === 'invited')
    if (fake.online.has(deviceKey) && lastInvite >= 0) {
      const stops = ['callEnd', 'otherClientAccept', 'otherClientReject']
      assert.ok(
        session.slice(lastInvite).some((e) => stops.includes(e.name)),
        `${deviceKey} stopped ringing`,
      )
    }
  }

  // The record tells who came in, and when: joined iff an answer or a join of theirs went through.
  const joined = record.members.filter((m) => m.status === 'joined' && m.accid !== CALLER).map((m) => m.accid)
  assert.deepEqual(
    joined.sort(),
    [...entered].filter((a) => a !== CALLER).sort(),
    'joined in the record iff an answer or join of theirs went through',
  )
  assert.equal(record.status === 1, joined.length > 0, 'completed iff someone answered')
  assert.equal(record.connectedAt !== undefined, joined.length > 0, 'connectedAt iff someone answered')
  for (const m of record.members) {
    if (m.status !== 'joined') continue
    assert.ok(m.joinedAt !== undefined && m.leftAt !== undefined && m.joinedAt <= m.leftAt, `${m.accid} times`)
    assert.ok(m.leftAt <= record.endedAt, `${m.accid} left by the end`)
  }
}

describe('the group call engine under random interleavings', () => {
  for (const { seed, title } of seedsBeside(11)) {
    it(`every run ends with one record for every party, nobody left ringing or held busy (${title})`, async () => {
      await fc.assert(
        onFreshStores(stepsArbitrary, [CALLER, ...CALLEES], async (steps, clock, stores) =>
          check(await run(steps, clock, stores), stores),
        ),
        { numRuns: 300, seed, includeErrorInReport: true },
      )
    })
  }
})
