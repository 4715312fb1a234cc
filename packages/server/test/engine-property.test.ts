import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { RingKitError, type DeviceRef, type ServerEvent } from '@ringkit/protocol'
import { CallEngine } from '../src/calls/CallEngine.ts'
import { memoryCallStateStore, type EventDelivery } from '../src/calls/ports.ts'
import type { Audience, CallInput } from '../src/calls/types.ts'
import { openSqliteStore } from '../src/store/sqlite.ts'

const APP = 'prop-app'
const dir = mkdtempSync(join(tmpdir(), 'ringkit-prop-'))
const store = openSqliteStore(dir)
after(async () => {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
})

const alice: DeviceRef = { accid: 'p-alice', deviceId: 'a1' }
const bobs: DeviceRef[] = ['b1', 'b2', 'b3'].map((deviceId) => ({ accid: 'p-bob', deviceId }))
const everyone = [alice, ...bobs]
const key = (d: DeviceRef) => `${d.accid}/${d.deviceId}`

/** Delivery to devices that are online in the test; a lost device stops hearing anything. */
function fakeDelivery() {
  const online = new Set(everyone.map(key))
  const heard = new Map<string, ServerEvent[]>(everyone.map((d) => [key(d), []]))
  const delivery: EventDelivery = {
    send(_app: string, to: Audience, event: ServerEvent) {
      const targets =
        'device' in to ? [to.device] : everyone.filter((d) => d.accid === to.account && d.deviceId !== to.exceptDevice)
      for (const d of targets) if (online.has(key(d))) heard.get(key(d))!.push(event)
    },
    async onlineDevices(_app: string, accid: string) {
      return everyone.filter((d) => d.accid === accid && online.has(key(d)))
    },
  }
  return { delivery, online, heard }
}

type Step = { input: CallInput; together: boolean }

const device = fc.constantFrom(...everyone)
const callee = fc.constantFrom(...bobs)
const stepArbitrary: fc.Arbitrary<Step> = fc.record({
  together: fc.boolean(),
  input: fc.oneof(
    callee.map((by) => ({ kind: 'accept', by }) as const),
    callee.map((by) => ({ kind: 'reject', by }) as const),
    device.map((by) => ({ kind: 'hangup', by }) as const),
    device.map((by) => ({ kind: 'cancel', by }) as const),
    fc.constant({ kind: 'timeout' } as const),
    device.map((d) => ({ kind: 'deviceLost', device: d, reason: 'disconnected' }) as const),
    device.map((by) => ({ kind: 'mediaState', by, audio: false }) as const),
    device.map((by) => ({ kind: 'switchType', by, type: 'audio' }) as const),
  ),
})

const EXPECTED_REFUSALS = new Set(['INVALID_STATE', 'NOT_IN_CALL', 'CALL_NOT_FOUND'])

describe('the call engine under random interleavings', () => {
  it('always ends with exactly one record, heard once by every device still online, and nobody left ringing', async () => {
    await store.putApp({ appKey: APP, appSecret: 's', name: 'prop', multiDevice: true, createdAt: 0 })
    await store.createAccount(APP, { accid: 'p-alice' }, 0)
    await store.createAccount(APP, { accid: 'p-bob' }, 0)
    const calls = memoryCallStateStore()

    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 12 }), async (steps) => {
        const { delivery, online, heard } = fakeDelivery()
        const engine = new CallEngine({ store, calls, delivery })
        const { callId } = await engine.start(APP, alice, { to: ['p-bob'], callType: 'video', timeoutMs: 60_000 })
        const applied: CallInput['kind'][] = []
        const run = async (input: CallInput) => {
          try {
            if (input.kind === 'deviceLost') {
              online.delete(key(input.device))
              await engine.deviceLost(APP, input.device, input.reason)
            } else {
              await engine.act(APP, callId, input)
            }
            applied.push(input.kind)
          } catch (error) {
            if (!(error instanceof RingKitError) || !EXPECTED_REFUSALS.has(error.code)) throw error
          }
        }
        // Steps marked `together` are fired without waiting for the one before: racing devices.
        let batch: Promise<void>[] = []
        for (const step of steps) {
          if (!step.together) {
            await Promise.all(batch)
            batch = []
          }
          batch.push(run(step.input))
        }
        await Promise.all(batch)
        const live = await engine.get(callId)
        if (live) await run(live.phase === 'ringing' ? { kind: 'timeout' } : { kind: 'interrupt' })
        engine.close()

        const record = await store.getRecord(APP, callId)
        assert.ok(record, 'the call has a record')
        for (const accid of ['p-alice', 'p-bob']) {
          const page = await store.listRecords(APP, accid, { limit: 100 })
          assert.equal(page.records.filter((r) => r.callId === callId).length, 1, `${accid} lists it once`)
          assert.equal(await calls.callOf(APP, accid), undefined, `${accid} is free again`)
        }
        assert.deepEqual(await store.listJournaledCalls(), [], 'the journal is empty')

        for (const d of everyone) {
          const events = heard.get(key(d))!.filter((e) => 'callId' in e.data && e.data.callId === callId)
          const records = events.filter((e) => e.name === 'record')
          if (online.has(key(d))) assert.equal(records.length, 1, `${key(d)} hears the record once`)
          else assert.ok(records.length <= 1)
          const invited = events.findIndex((e) => e.name === 'invited')
          if (invited >= 0 && online.has(key(d))) {
            const stopped = events
              .slice(invited)
              .some((e) => e.name === 'callEnd' || e.name === 'otherClientAccept' || e.name === 'otherClientReject')
            assert.ok(stopped, `${key(d)} stopped ringing`)
          }
        }

        const bobStatus = record.members.find((m) => m.accid === 'p-bob')?.status
        const expectedMember = { 1: 'joined', 2: 'canceled', 3: 'rejected', 4: 'missed', 5: 'busy' }[record.status]
        assert.equal(bobStatus, expectedMember, `the callee's member status fits status ${record.status}`)
        const wasAccepted = applied.includes('accept')
        assert.equal(record.status === 1, wasAccepted, `status ${record.status} after ${applied.join(',')}`)
        if (!wasAccepted && applied.includes('reject')) assert.equal(record.status, 3)
        if (!wasAccepted && applied[applied.length - 1] === 'timeout' && !applied.includes('reject')) {
          assert.ok(record.status === 4 || record.status === 2)
        }
      }),
      { numRuns: 300, seed: Number(process.env.RINGKIT_PROPERTY_SEED ?? 7) },
    )
  })
})
