import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import * as protocol from '../src/index.ts'
import * as client from '../../client/src/index.ts'
import { clientMessageSchema, ERROR_CODES, RECORD_STATUS, recordStatusFor, END_REASONS } from '../src/index.ts'

describe('error codes', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
  const documented = [...readme.matchAll(/^\| `([A-Z_]+)` *\| (.+?) *\|$/gm)].map((m) => [m[1], m[2]])

  it('every code is documented in the README with its catalog text, and every documented code exists', () => {
    assert.deepEqual(Object.fromEntries(documented), { ...ERROR_CODES })
  })

  it('the client SDK exports the catalog and RingKitError', () => {
    assert.equal(client.ERROR_CODES, protocol.ERROR_CODES)
    assert.equal(client.RingKitError, protocol.RingKitError)
    const error = new client.RingKitError('RATE_LIMITED')
    assert.equal(error.retryable, true)
    assert.equal(error.message, ERROR_CODES.RATE_LIMITED)
    assert.deepEqual(error.toJSON(), { code: 'RATE_LIMITED', message: ERROR_CODES.RATE_LIMITED })
  })
})

describe('record statuses', () => {
  it('a connected call is completed whatever ended it; otherwise the reason decides', () => {
    for (const reason of END_REASONS) assert.equal(recordStatusFor(reason, true), RECORD_STATUS.completed)
    assert.equal(recordStatusFor('canceled', false), 2)
    assert.equal(recordStatusFor('rejected', false), 3)
    assert.equal(recordStatusFor('timeout', false), 4)
    assert.equal(recordStatusFor('interrupted', false), 4)
    assert.equal(recordStatusFor('busy', false), 5)
    assert.equal(recordStatusFor('disconnected', false), 2)
  })
})

describe('client frames', () => {
  const ok = (frame: unknown) => assert.equal(clientMessageSchema.safeParse(frame).success, true, JSON.stringify(frame))
  const bad = (frame: unknown) =>
    assert.equal(clientMessageSchema.safeParse(frame).success, false, JSON.stringify(frame))

  it('accepts well-formed requests', () => {
    ok({ type: 'login', id: '1', appKey: 'k', accid: 'bob', token: 't', deviceId: 'd' })
    ok({
      type: 'login',
      id: '1',
      appKey: 'k',
      accid: 'bob',
      token: 't',
      deviceId: 'd',
      resume: { sessionId: 's', lastSeq: 3 },
    })
    ok({ type: 'call', id: '2', to: ['bob'], callType: 'video', timeoutMs: 120_000, attachment: { a: 1 } })
    ok({ type: 'signal', id: '3', callId: 'c', data: { sdp: 'v=0' } })
    ok({ type: 'history', id: '4', limit: 100 })
  })

  it('refuses unknown types, extra fields, wrong types and out-of-range values', () => {
    bad({ type: 'dial', id: '1' })
    bad({ type: 'accept', id: '1', callId: 'c', extra: true })
    bad({ type: 'accept', id: 1, callId: 'c' })
    bad({ type: 'call', id: '2', to: ['bob'], callType: 'hologram' })
    bad({ type: 'call', id: '2', to: [], callType: 'audio' })
    bad({ type: 'call', id: '2', to: ['bob'], callType: 'audio', timeoutMs: 120_001 })
    bad({ type: 'call', id: '2', to: ['b o b'], callType: 'audio' })
    bad({ type: 'history', id: '4', limit: 101 })
    bad({ type: 'ping', id: 'x'.repeat(65) })
  })
})
