import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Standard Webhooks signing: `webhook-signature: v1,<base64 HMAC-SHA256>` over
 * `id.timestamp.body`, keyed with the bytes of the secret after `whsec_`.
 */

const SECRET_PREFIX = 'whsec_'
/** How far `webhook-timestamp` may be from the receiver's clock: a replay older than this fails. */
export const WEBHOOK_TOLERANCE_SECONDS = 300

/** A new endpoint secret: `whsec_` and 24 random bytes in base64. */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(24).toString('base64')
}

function keyOf(secret: string): Buffer {
  if (!secret.startsWith(SECRET_PREFIX)) throw new Error('a webhook secret starts with whsec_')
  return Buffer.from(secret.slice(SECRET_PREFIX.length), 'base64')
}

/** The signature of one attempt: `v1,` and the base64 HMAC. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

/** Headers as Node, fetch or most frameworks give them. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>

export interface VerifiedWebhook {
  /** `webhook-id`: the same on every retry of one event; keep it to drop repeats. */
  id: string
  type: string
  /** When the event happened, ISO 8601. */
  timestamp: string
  data: { callId: string; seq: number } & Record<string, unknown>
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined
  const record = headers as Record<string, string | string[] | undefined>
  const key = Object.keys(record).find((k) => k.toLowerCase() === name)
  const value = key === undefined ? undefined : record[key]
  return Array.isArray(value) ? value[0] : value
}

/**
 * Checks a delivery as an app backend receives it and returns its event; throws when a header is
 * missing, the timestamp is more than 5 minutes off, or no signature matches. `rawBody` must be
 * the bytes as received: a body parsed and serialized again no longer matches its signature.
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  rawBody: string | Uint8Array,
  nowSeconds = Math.floor(Date.now() / 1000),
): VerifiedWebhook {
  const id = header(headers, 'webhook-id')
  const timestamp = header(headers, 'webhook-timestamp')
  const signatures = header(headers, 'webhook-signature')
  if (!id || !timestamp || !signatures) throw new Error('not a webhook: a webhook-* header is missing')
  const seconds = Number(timestamp)
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - seconds) > WEBHOOK_TOLERANCE_SECONDS) {
    throw new Error('the webhook timestamp is too far from now')
  }
  const body = typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8')
  const expected = Buffer.from(signWebhook(secret, id, seconds, body))
  // Several signatures, space-separated, while a secret is being rotated.
  const matched = signatures.split(' ').some((candidate) => {
    const given = Buffer.from(candidate)
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
  if (!matched) throw new Error('the webhook signature does not match')
  const event = JSON.parse(body) as Omit<VerifiedWebhook, 'id'>
  return { id, ...event }
}
