import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import fc from 'fast-check'
import { RingKitError, type DeviceRef } from '@ringkit/protocol'
import { redisCallStateStore } from '../src/bus/redis-call-state.ts'
import { CallEngine } from '../src/calls/CallEngine.ts'
import type { CallStateStore } from '../src/calls/ports.ts'
import type { CallInput } from '../src/calls/types.ts'
import { APP, Clock, fakeDelivery, freshStores, key, listsOnce } from './engine-support.ts'
import { redisHop, redisScope, testRedis, type RedisScope } from './redis.ts'
import { seedsBeside } from './seeds.ts'

/**
 * Two nodes: two engines, each with its own connection to one Redis, sharing one durable store.
 * Each engine serializes only its own actions, so actions sent to both at once really race.
 */

const CALLER = 'n-alice'
const CALLEE = 'n-bob'
const REFUSALS = new Set(['INVALID_STATE', 'CALL_NOT_FOUND', 'NOT_IN_CALL'])
const caller: DeviceRef = { accid: CALLER, deviceId: 'a1' }
const callees: DeviceRef[] = [
  { accid: CALLEE, deviceId: 'b1' },
  { accid: CALLEE, deviceId: 'b2' },
]

/** Each of these ends or answers a ringing call, and none applies after another: exactly one goes through. */
type Move = { kind: 'accept' | 'reject'; callee: 0 | 1 } | { kind: 'cancel' } | { kind: 'timeout' }
const moveArbitrary: fc.Arbitrary<Move> = fc.oneof(
  fc.record({
    kind: fc.constantFrom('accept' as const, 'reject' as const),
    callee: fc.constantFrom(0 as const, 1 as const),
  }),
  fc.constant({ kind: 'cancel' as const }),
  fc.constant({ kind: 'timeout' as const }),
)
const inputOf = (move: Move): CallInput =>
  move.kind === 'accept' || move.kind === 'reject'
    ? { kind: move.kind, by: callees[move.callee]! }
    : move.kind === 'cancel'
      ? { kind: 'cancel', by: caller }
      : { kind: 'timeout' }
/** What the caller's device hears when `move` wins, once the call is over. */
const CALLER_HEARS: Record<Move['kind'], string[]> = {
  accept: ['userAccept', 'callEnd', 'record'],
  reject: ['userReject', 'callEnd', 'record'],
  cancel: ['callEnd', 'record'],
  timeout: ['callingTimeout', 'callEnd', 'record'],
}
const STATUS: Record<Move['kind'], number> = { accept: 1, cancel: 2, reject: 3, timeout: 4 }

/** The store as it is, counting the writes that lost to another node's: the races the test made. */
function counting(store: CallStateStore, lost: { count: number }): CallStateStore {
  return {
    ...store,
    put: async (state, version) => {
      const written = await store.put(state, version)
      if (written === undefined) lost.count++
      return written
    },
    delete: async (callId, version) => {
      const deleted = await store.delete(callId, version)
      if (!deleted) lost.count++
      return deleted
    },
  }
}

const redis = await testRedis()

describe('two nodes racing on one call', { skip: redis.skip }, () => {
  let scope: RedisScope
  let nodes: [CallStateStore, CallStateStore]
  const lost = { count: 0 }
  before(() => {
    scope = redisScope(redis.url)
    nodes = [counting(redisCallStateStore(scope.open()), lost), counting(redisCallStateStore(scope.open()), lost)]
  })
  after(() => scope.drop())

  for (const { seed, title } of seedsBeside(13)) {
    it(`exactly one move wins, the call has one record and nobody stays busy (${title})`, async () => {
      const clock = new Clock(1_700_000_000_000)
      const lostBefore = lost.count
      await fc.assert(
        fc.asyncProperty(moveArbitrary, moveArbitrary, fc.boolean(), async (first, second, swap) => {
          clock.now += 60_000
          const { store } = await freshStores([CALLER, CALLEE])
          const fake = fakeDelivery([caller, ...callees])
          const unexpected: unknown[] = []
          // No timer runs: the clock never moves while the call lives; `timeout` stands for the timer.
          const options = { store, delivery: fake.delivery, now: () => clock.now, scheduler: clock.scheduler }
          const onError = (error: unknown) => void unexpected.push(error)
          const engines = nodes.map((calls) => new CallEngine({ ...options, calls, onError }))
          const [a, b] = swap ? [engines[1]!, engines[0]!] : [engines[0]!, engines[1]!]
          try {
            const { callId } = await a.start(APP, caller, { to: [CALLEE], callType: 'audio', timeoutMs: 30_000 })
            const outcomes = await Promise.allSettled([
              a.act(APP, callId, inputOf(first)),
              b.act(APP, callId, inputOf(second)),
            ])
            const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [[first, second][i]!] : []))
            for (const o of outcomes) {
              if (o.status === 'rejected' && !(o.reason instanceof RingKitError && REFUSALS.has(o.reason.code))) {
                unexpected.push(o.reason)
              }
            }
            assert.deepEqual(unexpected, [], 'the loser is refused as transition says, nothing else')
            assert.equal(won.length, 1, `one of ${first.kind} and ${second.kind} goes through`)
            const winner = won[0]!
            if ((await b.get(callId))?.phase === 'active') await b.act(APP, callId, { kind: 'hangup', by: caller })

            const record = await store.getRecord(APP, callId)
            assert.equal(record?.status, STATUS[winner.kind], `the record is ${winner.kind}'s`)
            assert.equal(await listsOnce(store, CALLER, callId), 1)
            assert.equal(await listsOnce(store, CALLEE, callId), 1)
            assert.deepEqual(await store.listJournaledCalls(), [])
            const heard = fake.sessions
              .get(key(caller))!
              .flat()
              .map((e) => e.name)
            assert.deepEqual(heard, CALLER_HEARS[winner.kind], 'the losing move sent nothing')
            for (const calls of nodes) {
              assert.equal(await calls.get(callId), undefined, 'no live state is left')
              assert.equal(await calls.callOf(APP, CALLER), undefined, 'the caller is free again')
              assert.equal(await calls.callOf(APP, CALLEE), undefined, 'the callee is free again')
            }
          } finally {
            for (const engine of engines) engine.close()
            await store.close()
          }
        }),
        { numRuns: 60, seed, includeErrorInReport: true },
      )
      assert.ok(lost.count > lostBefore, 'some writes lost to the other node: the nodes did race')
    })
  }

  it('callers on both nodes calling one account at once: it rings for one call, the others get busy', async () => {
    const others = ['n-carol', 'n-dave', 'n-erin', 'n-frank']
    const { store } = await freshStores([CALLEE, ...others])
    const devices = [...others.map((accid) => ({ accid, deviceId: 'd1' })), callees[0]!]
    const fake = fakeDelivery(devices)
    const clock = new Clock(1_700_000_000_000)
    const options = { store, delivery: fake.delivery, now: () => clock.now, scheduler: clock.scheduler }
    const engines = nodes.map((calls) => new CallEngine({ ...options, calls }))
    try {
      for (let round = 0; round < 10; round++) {
        clock.now += 60_000
        const started = await Promise.all(
          devices.slice(0, -1).map((d, i) => engines[i % 2]!.start(APP, d, { to: [CALLEE], callType: 'audio' })),
        )
        const statuses = await Promise.all(
          started.map(async ({ callId }) => (await store.getRecord(APP, callId))?.status),
        )
        const ringing = started.filter((_, i) => statuses[i] === undefined)
        assert.equal(ringing.length, 1, `one call rings, the others ended busy: ${statuses}`)
        assert.deepEqual(
          statuses.filter((s) => s !== undefined),
          [5, 5, 5],
        )
        await engines[round % 2]!.act(APP, ringing[0]!.callId, { kind: 'timeout' })
        for (const accid of [CALLEE, ...others]) assert.equal(await nodes[0].callOf(APP, accid), undefined)
      }
    } finally {
      for (const engine of engines) engine.close()
      await store.close()
    }
  })

  it('a ringing deadline due while Redis is out of reach still ends the call once it is back', async () => {
    const hop = await redisHop(new URL(redis.url))
    const { store } = await freshStores([CALLER, CALLEE])
    const fake = fakeDelivery([caller, ...callees])
    const clock = new Clock(1_700_000_000_000)
    const calls = redisCallStateStore(scope.open({ url: hop.url, commandTimeoutMs: 300 }))
    const errors: unknown[] = []
    const engine = new CallEngine({
      store,
      calls,
      delivery: fake.delivery,
      now: () => clock.now,
      scheduler: clock.scheduler,
      onError: (error) => void errors.push(error),
    })
    try {
      const { callId } = await engine.start(APP, caller, { to: [CALLEE], callType: 'audio', timeoutMs: 5000 })
      await hop.cut()
      await clock.advance(5000)
      assert.equal(await store.getRecord(APP, callId), undefined, 'the deadline could not apply')
      assert.equal(clock.pending, 1, 'it is tried again')
      await hop.restore()
      for (let i = 0; i < 50 && !(await store.getRecord(APP, callId)); i++) {
        await clock.advance(1000)
        await sleep(100)
      }
      assert.equal((await store.getRecord(APP, callId))?.status, 4)
      assert.equal(await calls.callOf(APP, CALLEE), undefined)
      assert.deepEqual(errors, [])
    } finally {
      engine.close()
      await hop.cut()
      await store.close()
    }
  })
})
