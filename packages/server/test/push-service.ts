import assert from 'node:assert/strict'
import { createECDH, randomBytes } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import ece from 'http_ece'
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose'

/** A push as the push service took it: its headers, checked, and its payload, decrypted. */
export interface DeliveredPush {
  path: string
  headers: IncomingHttpHeaders
  ttl: number
  topic: string | undefined
  urgency: string | undefined
  /** The VAPID JWT's claims, its signature checked with the key the request named. */
  vapid: { aud: string; sub: string; exp: number }
  payload: Record<string, unknown> & { kind: string; callId: string }
  at: number
}

/**
 * A Web Push service on loopback, as the browsers' are: it hands out subscriptions (an endpoint of
 * its own and the P-256 and auth keys a browser would make), checks each push's VAPID JWT (RFC 8292)
 * and headers, and decrypts its aes128gcm payload (RFC 8291) with the subscription's private key.
 */
export async function pushService() {
  const keys = new Map<string, { ecdh: ReturnType<typeof createECDH>; auth: Buffer }>()
  const delivered: DeliveredPush[] = []
  const failures: string[] = []
  let status = (_path: string) => 201
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      void take(request.url ?? '', request.headers, Buffer.concat(chunks)).then(
        (push) => {
          delivered.push(push)
          response.writeHead(status(push.path)).end()
        },
        (error: unknown) => {
          failures.push(String(error))
          response.writeHead(400).end(String(error))
        },
      )
    })
  })
  const take = async (path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<DeliveredPush> => {
    const key = keys.get(path)
    if (!key) throw new Error(`no subscription at ${path}`)
    if (headers['content-encoding'] !== 'aes128gcm') throw new Error('not aes128gcm')
    const ttl = Number(headers.ttl)
    if (!Number.isInteger(ttl) || ttl < 0) throw new Error('no TTL')
    const match = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(String(headers.authorization))
    if (!match) throw new Error(`no VAPID authorization: ${headers.authorization}`)
    const [, jwt = '', k = ''] = match
    const point = Buffer.from(k, 'base64url')
    const publicKey = await importJWK(
      {
        kty: 'EC',
        crv: 'P-256',
        x: point.subarray(1, 33).toString('base64url'),
        y: point.subarray(33, 65).toString('base64url'),
      },
      'ES256',
    )
    if (decodeProtectedHeader(jwt).alg !== 'ES256') throw new Error('the VAPID JWT is not ES256')
    await jwtVerify(jwt, publicKey, { audience: base })
    const claims = decodeJwt(jwt) as { aud: string; sub: string; exp: number }
    const plain = ece.decrypt(body, {
      version: 'aes128gcm',
      privateKey: key.ecdh,
      authSecret: key.auth.toString('base64url'),
    })
    return {
      path,
      headers,
      ttl,
      topic: headers.topic as string | undefined,
      urgency: headers.urgency as string | undefined,
      vapid: claims,
      payload: JSON.parse(plain.toString('utf8')),
      at: Date.now(),
    }
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  let made = 0
  return {
    base,
    delivered,
    failures,
    /** A browser's subscription on this service, as `PushSubscription.toJSON()` gives it. */
    subscription() {
      const ecdh = createECDH('prime256v1')
      ecdh.generateKeys()
      const auth = randomBytes(16)
      const path = `/push/${++made}-${randomBytes(4).toString('hex')}`
      keys.set(path, { ecdh, auth })
      return {
        endpoint: base + path,
        keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') },
      }
    },
    /** How the service answers pushes to a path; 201 unless told. */
    answer(how: (path: string) => number) {
      status = how
    },
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export type PushService = Awaited<ReturnType<typeof pushService>>

/**
 * A service worker registration as `enablePush` uses it, whose push manager "subscribes" on the
 * test's push service; `key()` is the applicationServerKey it was given, base64url.
 */
export function pushRegistration(subscription: { endpoint: string; keys: { p256dh: string; auth: string } }) {
  let current: unknown = null
  let given = ''
  const reg = {
    pushManager: {
      async getSubscription() {
        return current
      },
      async subscribe(options: { userVisibleOnly: boolean; applicationServerKey: Uint8Array }) {
        assert.equal(options.userVisibleOnly, true)
        given = Buffer.from(options.applicationServerKey).toString('base64url')
        current = {
          options: { applicationServerKey: options.applicationServerKey.buffer },
          toJSON: () => subscription,
          unsubscribe: async () => {
            current = null
            return true
          },
        }
        return current
      },
    },
  } as unknown as ServiceWorkerRegistration
  return { reg, key: () => given }
}
