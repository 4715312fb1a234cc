import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { DeviceRef } from '@ringkit/protocol'
import { redisCallStateStore } from '../src/bus/redis-call-state.ts'
import { CallEngine } from '../src/calls/CallEngine.ts'
import { storeJournal, type CallJournal } from '../src/calls/journal.ts'
import type { ClusterNode } from '../src/calls/ports.ts'
import type { CallState } from '../src/calls/types.ts'
import { openPostgresStore } from '../src/store/postgres.ts'
import { fakeDelivery } from './engine-support.ts'
import { skipUnless, testPostgres } from './postgres.ts'
import { redisScope, testRedis } from './redis.ts'

/**
 * Two engines (two nodes) on one PostgreSQL schema and one Redis. Node A writes a call's new state
 * and stops before journaling it, as a node stopped with SIGSTOP right there would; its lease
 * lapses, node B takes the call over; then A journals the state it had. The journal must keep B's.
 */
const postgres = await testPostgres()
const redis = await testRedis()
const skip = redis.skip || skipUnless(postgres).skip
after(() => ('skip' in postgres ? undefined : postgres.dropSchemas()))

const APP = 'fence-app'
const alice: DeviceRef = { accid: 'alice', deviceId: 'a1' }
const bob: DeviceRef = { accid: 'bob', deviceId: 'b1' }

/** A node of the test cluster: `others` says whether the other node's lease is live. */
function node(id: string, others: () => boolean): ClusterNode {
  return {
    id,
    alive: async (other) => other === id || others(),
    lock: async () => true,
    // Both devices stay logged in: the call taken over goes on.
    devices: async (_appKey, accid) => [accid === 'alice' ? 'a1' : 'b1'],
  }
}

describe('journal writes of a node stopped between its state write and its journal write', { skip }, () => {
  if ('skip' in postgres) return

  it('are refused once another node took the call over: the journal keeps the newer node and state', async () => {
    const schema = postgres.schema()
    const scope = redisScope(redis.url)
    const [storeA, storeB] = await Promise.all([
      openPostgresStore({ url: postgres.url, schema }),
      openPostgresStore({ url: postgres.url, schema }),
    ])
    await storeA.putApp({ appKey: APP, appSecret: 's', name: 'fence', multiDevice: true, createdAt: 0 })
    for (const accid of ['alice', 'bob']) await storeA.createAccount(APP, { accid }, 0)
    let aDead = false
    let resume!: () => void
    const stopped = new Promise<void>((resolve) => (resume = resolve))
    const lateWrites: boolean[] = []
    const straight = storeJournal(storeA, 'node-a')
    const journalA: CallJournal = {
      ...straight,
      async update(state: CallState, version: number) {
        // Stopped here, after the state write: the lease lapses meanwhile.
        aDead = true
        await stopped
        lateWrites.push(await storeA.journalCall(state, 'node-a', version))
      },
    }
    const { delivery } = fakeDelivery([alice, bob])
    const engineA = new CallEngine({
      store: storeA,
      calls: redisCallStateStore(scope.open()),
      delivery,
      cluster: node('node-a', () => true),
      journal: journalA,
    })
    const engineB = new CallEngine({
      store: storeB,
      calls: redisCallStateStore(scope.open()),
      delivery,
      cluster: node('node-b', () => !aDead),
    })
    const row = async (callId: string) => {
      const { rows } = await postgres.query(
        `SELECT state, node_id, version FROM "${schema}".call_journal WHERE call_id = $1`,
        [callId],
      )
      const r = rows[0] as { state: CallState; node_id: string; version: string } | undefined
      return r && { phase: r.state.phase, owner: r.node_id, version: Number(r.version) }
    }
    try {
      const { callId } = await engineA.start(APP, alice, { to: ['bob'], callType: 'audio' })
      assert.deepEqual(await row(callId), { phase: 'ringing', owner: 'node-a', version: 1 })
      const answered = engineA.act(APP, callId, { kind: 'accept', by: bob })
      const deadline = Date.now() + 10_000
      while ((await row(callId))?.owner !== 'node-b') {
        assert.ok(Date.now() < deadline, 'node B takes the call over')
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      const taken = await row(callId)
      assert.deepEqual(taken, { phase: 'active', owner: 'node-b', version: 3 })

      resume()
      assert.equal((await answered).phase, 'active')
      assert.deepEqual(lateWrites, [false], "node A's journal write of version 2 is refused")
      assert.deepEqual(await row(callId), taken)
    } finally {
      engineA.close()
      engineB.close()
      resume()
      await Promise.all([storeA.close(), storeB.close()])
      await scope.drop()
    }
  })
})
