import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { RingKitError, type CallRecord, type DeviceRef } from '@ringkit/protocol'
import { CallEngine } from '../src/calls/CallEngine.ts'
import type { CallInput } from '../src/calls/types.ts'
import {
  APP,
  fakeDelivery,
  freshStores as freshStoresFor,
  key,
  listsOnce,
  onFreshStores,
  type Calls,
  type Clock,
  type Store,
} from './engine-support.ts'
import { seedsBeside } from './seeds.ts'

const CALLER = 'p-alice'
const CALLEE = 'p-bob'
const EXPECTED_REFUSALS = new Set(['INVALID_STATE', 'NOT_IN_CALL', 'CALL_NOT_FOUND'])
const freshStores = () => freshStoresFor([CALLER, CALLEE])

type Action =
  | { kind: 'accept' | 'reject'; callee: number }
  | { kind: 'cancel'; caller: number }
  | { kind: 'hangup' | 'stray'; device: number; as: 'accept' | 'reject' | 'cancel' | 'hangup' }
  | { kind: 'timeout' }
  | { kind: 'deviceLost'; device: number; reason: 'disconnected' | 'kicked' }
  | { kind: 'deviceOnline'; device: number }
  | { kind: 'mediaState' | 'switchType'; device: number }
interface Step {
  action: Action
  /** Fired without waiting for the step before: devices racing. */
  together: boolean
  /** How far the engine's clock moves before this step. */
  waitMs: number
}
interface Scenario {
  calleeDevices: number
  callerDevices: number
  steps: Step[]
}

const nat = fc.nat({ max: 99 })
const actionArbitrary: fc.Arbitrary<Action> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('accept' as const), callee: nat }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('reject' as const), callee: nat }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cancel' as const), caller: nat }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('hangup' as const), device: nat, as: fc.constant('hangup' as const) }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('stray' as const),
      device: nat,
      as: fc.constantFrom('accept' as const, 'reject' as const, 'cancel' as const, 'hangup' as const),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'timeout' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('deviceLost' as const),
      device: nat,
      reason: fc.constantFrom('disconnected' as const, 'kicked' as const),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('deviceOnline' as const), device: nat }) },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constantFrom('mediaState' as const, 'switchType' as const), device: nat }),
  },
)
const scenarioArbitrary: fc.Arbitrary<Scenario> = fc.record({
  calleeDevices: fc.integer({ min: 2, max: 3 }),
  callerDevices: fc.integer({ min: 1, max: 2 }),
  steps: fc.array(
    fc.record({ action: actionArbitrary, together: fc.boolean(), waitMs: fc.constantFrom(0, 0, 300, 1500) }),
    { minLength: 1, maxLength: 14 },
  ),
})

/** What one run did: the inputs that went through, and which devices were ever lost. */
interface Run {
  callId: string
  caller: DeviceRef
  callers: DeviceRef[]
  callees: DeviceRef[]
  applied: CallInput[]
  lost: { device: DeviceRef; reason: 'disconnected' | 'kicked' }[]
  unexpected: unknown[]
}

async function runScenario(scenario: Scenario, clock: Clock, { store, calls }: { store: Store; calls: Calls }) {
  const callers = Array.from({ length: scenario.callerDevices }, (_, n) => ({ accid: CALLER, deviceId: `a${n + 1}` }))
  const callees = Array.from({ length: scenario.calleeDevices }, (_, n) => ({ accid: CALLEE, deviceId: `b${n + 1}` }))
  const everyone = [...callers, ...callees]
  const fake = fakeDelivery(everyone)
  const unexpected: unknown[] = []
  const engine = new CallEngine({
    store,
    calls,
    delivery: fake.delivery,
    now: () => clock.now,
    // Never moved on by the test: its 'timeout' step stands for the engine's timer, and is counted.
    scheduler: clock.scheduler,
    onError: (error) => unexpected.push(error),
  })
  const caller = callers[0]!
  const { callId } = await engine.start(APP, caller, { to: [CALLEE], callType: 'video', timeoutMs: 1000 })
  const run: Run = { callId, caller, callers, callees, applied: [], lost: [], unexpected }

  const attempt = async (input: CallInput) => {
    try {
      await engine.act(APP, callId, input)
      run.applied.push(input)
    } catch (error) {
      if (!(error instanceof RingKitError) || !EXPECTED_REFUSALS.has(error.code)) unexpected.push(error)
    }
  }
  // A device that is offline sends nothing: its session, and with it its socket, is gone.
  const from = (by: DeviceRef, input: CallInput) => (fake.online.has(key(by)) ? attempt(input) : Promise.resolve())
  const fire = (action: Action): Promise<void> => {
    const pick = <T>(list: T[], n: number) => list[n % list.length]!
    switch (action.kind) {
      case 'accept':
      case 'reject': {
        const by = pick(callees, action.callee)
        return from(by, { kind: action.kind, by })
      }
      case 'cancel': {
        const by = pick(callers, action.caller)
        return from(by, { kind: 'cancel', by })
      }
      case 'hangup':
      case 'stray': {
        const by = pick(everyone, action.device)
        return from(by, { kind: action.as, by })
      }
      case 'timeout':
        return attempt({ kind: 'timeout' })
      case 'mediaState': {
        const by = pick(everyone, action.device)
        return from(by, { kind: 'mediaState', by, audio: false })
      }
      case 'switchType': {
        const by = pick(everyone, action.device)
        return from(by, { kind: 'switchType', by, type: 'audio' })
      }
      case 'deviceLost': {
        const device = pick(everyone, action.device)
        if (!fake.online.delete(key(device))) return Promise.resolve()
        run.lost.push({ device, reason: action.reason })
        return engine.deviceLost(APP, device, action.reason).catch((error: unknown) => void unexpected.push(error))
      }
      case 'deviceOnline': {
        const device = pick(everyone, action.device)
        if (fake.online.has(key(device))) return Promise.resolve()
        fake.online.add(key(device))
        fake.sessions.get(key(device))!.push([])
        return engine.deviceOnline(APP, device).catch((error: unknown) => void unexpected.push(error))
      }
    }
  }

  let racing: Promise<void>[] = []
  for (const step of scenario.steps) {
    if (!step.together) {
      await Promise.all(racing)
      racing = []
    }
    clock.now += step.waitMs
    racing.push(fire(step.action))
  }
  await Promise.all(racing)
  // A call outlives none of its devices: losing the caller's, or the answering one, ended it.
  const live = await engine.get(callId)
  const carriers = live?.phase === 'active' ? [live.caller, live.answeredBy] : live ? [live.caller] : []
  for (const d of carriers) assert.ok(fake.online.has(key(d)), `the ${live?.phase} call outlived ${key(d)}`)
  // Every run ends: a call still ringing times out, one still going is hung up by the caller.
  if (live?.phase === 'ringing') await attempt({ kind: 'timeout' })
  if (live?.phase === 'active') await attempt({ kind: 'hangup', by: caller })
  const timersLeft = clock.pending
  engine.close()
  return { run, fake, timersLeft }
}

/** The record's status, from which inputs went through: the first answer or ending wins, once. */
function expectedStatus(run: Run, record: CallRecord): number {
  const ok = (kind: CallInput['kind']) => run.applied.filter((i) => i.kind === kind)
  const byCaller = (i: CallInput) => 'by' in i && i.by.accid === CALLER
  const enders = run.applied.filter((i) => ['reject', 'cancel', 'timeout', 'hangup'].includes(i.kind))
  assert.ok(ok('accept').length <= 1, 'one accept at most')
  assert.ok(enders.length <= 1, `one ending at most: ${enders.map((i) => i.kind)}`)
  if (enders.length === 0) {
    // Nothing ended it but a lost device of the call.
    const lost = run.lost.filter((l) => l.reason === record.endReason)
    assert.ok(lost.length > 0, `ended by ${record.endReason} with no device lost that way`)
  }
  if (ok('accept').length === 1) return 1
  const [ender] = enders
  if (!ender) return 2
  if (ender.kind === 'timeout') return 4
  if (ender.kind === 'cancel' || byCaller(ender)) return 2
  return 3
}

/** What each device that was never lost must have heard, by name, noise left out. */
function expectedEvents(run: Run, record: CallRecord, d: DeviceRef): string[] {
  const status = record.status
  if (d.accid === CALLER && d.deviceId !== run.caller.deviceId) return ['record']
  if (d.accid === CALLER) {
    const answer = { 1: ['userAccept'], 2: [], 3: ['userReject'], 4: ['callingTimeout'] }[status as 1 | 2 | 3 | 4]
    return [...answer, 'callEnd', 'record']
  }
  const accepted = run.applied.find((i) => i.kind === 'accept')
  if (accepted && 'by' in accepted) {
    return key(accepted.by) === key(d) ? ['invited', 'callEnd', 'record'] : ['invited', 'otherClientAccept', 'record']
  }
  const ender = run.applied.find((i) => i.kind !== 'accept' && i.kind !== 'mediaState' && i.kind !== 'switchType')
  const rejectedBy = status === 3 && ender && 'by' in ender ? ender.by : undefined
  const before =
    status === 2 && record.endReason === 'canceled'
      ? ['userCancel']
      : status === 4
        ? ['callingTimeout']
        : rejectedBy && key(rejectedBy) !== key(d)
          ? ['otherClientReject']
          : []
  return ['invited', ...before, 'callEnd', 'record']
}

const NOISE = new Set(['audioAvailable', 'videoAvailable', 'callTypeChange'])
const MEMBER_STATUS = { 1: 'joined', 2: 'canceled', 3: 'rejected', 4: 'missed', 5: 'busy' } as const

async function check(
  { run, fake, timersLeft }: Awaited<ReturnType<typeof runScenario>>,
  { store, calls }: { store: Store; calls: Calls },
): Promise<void> {
  const { callId } = run
  assert.deepEqual(run.unexpected, [], 'only INVALID_STATE, NOT_IN_CALL and CALL_NOT_FOUND refusals')
  assert.deepEqual(fake.strays, [], 'events go only to devices of the test, records to accounts')
  assert.equal(timersLeft, 0, 'no ringing timer outlives the call')

  const record = await store.getRecord(APP, callId)
  assert.ok(record, 'the call has a record')
  assert.equal(await listsOnce(store, CALLER, callId), 1, 'the caller lists it once')
  assert.equal(await listsOnce(store, CALLEE, callId), 1, 'the callee lists it once')
  assert.deepEqual(await store.listJournaledCalls(), [], 'the journal is empty')
  assert.equal(await calls.get(callId), undefined, 'no live state is left')
  assert.equal(await calls.callOf(APP, CALLER), undefined, 'the caller is free again')
  assert.equal(await calls.callOf(APP, CALLEE), undefined, 'the callee is free again')

  // One record sent per account, heard once by each device online then, and equal to the stored one.
  assert.deepEqual(fake.recordSends.map((s) => s.account).sort(), [CALLER, CALLEE], 'one record sent per account')
  for (const d of [...run.callers, ...run.callees]) {
    const heard = fake.sessions.get(key(d))!.flat()
    const records = heard.filter((e) => e.name === 'record')
    const reached = fake.recordSends.some((s) => s.reached.includes(key(d)))
    assert.equal(records.length, reached ? 1 : 0, `${key(d)} hears the record once if online`)
    for (const r of records) assert.deepEqual(r.data, record)
    // Nobody is left ringing: after the last invite of its current session, something stopped it.
    const session = fake.sessions.get(key(d))!.at(-1)!
    const lastInvite = session.findLastIndex((e) => e.name === 'invited')
    if (fake.online.has(key(d)) && lastInvite >= 0) {
      const stops = ['callEnd', 'otherClientAccept', 'otherClientReject']
      assert.ok(
        session.slice(lastInvite).some((e) => stops.includes(e.name)),
        `${key(d)} stopped ringing`,
      )
    }
    if (!run.lost.some((l) => key(l.device) === key(d))) {
      const names = heard.filter((e) => !NOISE.has(e.name)).map((e) => e.name)
      assert.deepEqual(names, expectedEvents(run, record, d), `what ${key(d)} heard`)
    }
  }

  assert.equal(record.status, expectedStatus(run, record), `status after ${run.applied.map((i) => i.kind)}`)
  assert.equal(
    record.members.find((m) => m.accid === CALLEE)?.status,
    MEMBER_STATUS[record.status],
    'the callee member status fits the record status',
  )
  assert.equal(record.connectedAt !== undefined, record.status === 1, 'connectedAt iff connected')
  const talked = record.connectedAt === undefined ? 0 : record.endedAt - record.connectedAt
  assert.equal(record.durationSeconds, Math.round(talked / 1000), 'duration is the talk time')
  assert.ok(record.endedAt >= record.startedAt, 'ended after it started')
}

describe('the call engine under random interleavings', () => {
  for (const { seed, title } of seedsBeside(7)) {
    it(`every run ends with one record, heard once by each online device, and nobody left ringing (${title})`, async () => {
      await fc.assert(
        onFreshStores(scenarioArbitrary, [CALLER, CALLEE], async (scenario, clock, stores) =>
          check(await runScenario(scenario, clock, stores), stores),
        ),
        { numRuns: 400, seed, includeErrorInReport: true },
      )
    })
  }

  it('a call that cannot be journaled leaves the caller free to call again', async () => {
    const { store, calls } = await freshStores()
    const devices = [
      { accid: CALLER, deviceId: 'a1' },
      { accid: CALLEE, deviceId: 'b1' },
    ]
    const { delivery } = fakeDelivery(devices)
    const engine = new CallEngine({ store, calls, delivery })
    // Nested past what JSON.stringify can write: the journal write fails after the caller was claimed.
    const attachment = { deep: JSON.parse('['.repeat(20_000) + ']'.repeat(20_000)) as unknown }
    await assert.rejects(engine.start(APP, devices[0]!, { to: [CALLEE], callType: 'audio', attachment }), RangeError)
    assert.equal(await calls.callOf(APP, CALLER), undefined)
    const { callId } = await engine.start(APP, devices[0]!, { to: [CALLEE], callType: 'audio' })
    await engine.act(APP, callId, { kind: 'cancel', by: devices[0]! })
    assert.equal((await store.getRecord(APP, callId))?.status, 2)
    engine.close()
    await store.close()
  })
})
