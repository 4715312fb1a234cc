import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { parseRetryAfter, retryDelay } from './dispatcher.ts'
import { signWebhook, verifyWebhook } from './signing.ts'
import { webhookBody, type WebhookEvent } from './events.ts'

const SECRET = `whsec_${Buffer.from('a key of twenty-four byte').toString('base64')}`

describe('webhook signing (Standard Webhooks)', () => {
  const event: WebhookEvent = {
    id: 'msg_1',
    appKey: 'app',
    callId: 'c1',
    seq: 3,
    type: 'call.ended',
    at: Date.UTC(2026, 0, 2, 3, 4, 5),
    data: '{"record":{"status":1}}',
  }

  it('the body is the same bytes for the same event, callId and seq first', () => {
    assert.equal(
      webhookBody(event),
      '{"type":"call.ended","timestamp":"2026-01-02T03:04:05.000Z","data":{"callId":"c1","seq":3,"record":{"status":1}}}',
    )
  })

  it('a delivery verifies with its secret; any other secret, body, id or a stale timestamp does not', () => {
    const body = webhookBody(event)
    const now = 1_800_000_000
    const headers = { 'Webhook-Id': 'msg_1', 'webhook-timestamp': String(now), 'webhook-signature': '' }
    headers['webhook-signature'] = `v1,bogus ${signWebhook(SECRET, 'msg_1', now, body)}`
    assert.equal(verifyWebhook(SECRET, headers, body, now).data.seq, 3)
    assert.equal(verifyWebhook(SECRET, new Headers(headers), Buffer.from(body), now + 299).id, 'msg_1')
    assert.throws(() => verifyWebhook(SECRET, headers, body, now + 301), /timestamp/)
    assert.throws(() => verifyWebhook(SECRET, { ...headers, 'Webhook-Id': 'msg_2' }, body, now), /signature/)
    assert.throws(() => verifyWebhook(SECRET, headers, body.replace('3', '4'), now), /signature/)
    assert.throws(() => verifyWebhook(`whsec_${Buffer.from('x').toString('base64')}`, headers, body, now), /signature/)
    assert.throws(() => verifyWebhook(SECRET, {}, body, now), /missing/)
  })
})

describe('webhook retries', () => {
  it('back off from within 5 s, doubling to an hour, with jitter', () => {
    assert.equal(retryDelay(1, undefined, 1), 5_000)
    assert.equal(retryDelay(1, undefined, 0), 2_500)
    assert.equal(retryDelay(4, undefined, 1), 40_000)
    assert.equal(retryDelay(40, undefined, 1), 3_600_000)
  })

  it('honour Retry-After in seconds or as a date, within bounds', () => {
    const now = Date.UTC(2026, 0, 1)
    assert.equal(parseRetryAfter('120', now), 120_000)
    assert.equal(parseRetryAfter(new Date(now + 30_000).toUTCString(), now), 30_000)
    assert.equal(parseRetryAfter('soon', now), undefined)
    assert.equal(retryDelay(1, 120_000), 120_000)
    assert.equal(retryDelay(1, 0), 5_000, 'never sooner than the first retry')
    assert.equal(retryDelay(1, 48 * 3_600_000), 6 * 3_600_000, 'never later than 6 h')
  })
})
