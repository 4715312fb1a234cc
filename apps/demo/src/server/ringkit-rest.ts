import { createHash, randomBytes } from 'node:crypto'
import { z } from 'zod'
import { historyResultSchema, type HistoryPage } from '@ringkit/protocol'

/** What a RingKit REST call failed with: the HTTP status and RingKit's error code (or NETWORK). */
export class RingKitRestError extends Error {
  readonly status: number
  readonly code: string

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'RingKitRestError'
    this.status = status
    this.code = code
  }
}

export interface RingKitRestOptions {
  baseUrl: () => string
  appKey: string
  appSecret: string
  timeoutMs?: number
}

export interface RingKitRest {
  createAccount(accid: string, name: string): Promise<void>
  issueToken(accid: string, ttlSeconds: number): Promise<{ token: string; expiresAt: number }>
  listCalls(accid: string, page: { limit: number; cursor?: string | undefined }): Promise<HistoryPage>
}

const errorBody = z.object({ error: z.object({ code: z.string(), message: z.string() }) })
const tokenBody = z.object({ token: z.string(), expiresAt: z.number() })

/** The RingKit REST API as an app backend calls it: over HTTP, each request signed with a CheckSum. */
export function createRingKitRest(o: RingKitRestOptions): RingKitRest {
  async function call<T>(method: string, path: string, schema: z.ZodType<T>, body?: unknown): Promise<T> {
    const url = o.baseUrl() + path
    let res: Response
    try {
      res = await fetch(url, {
        method,
        headers: { ...signedHeaders(o.appKey, o.appSecret), ...(body === undefined ? {} : JSON_TYPE) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(o.timeoutMs ?? 5000),
      })
    } catch (error) {
      throw new RingKitRestError(0, 'NETWORK', `${method} ${path}: ${String(error)}`, { cause: error })
    }
    const payload: unknown = await res.json().catch(() => undefined)
    if (!res.ok) {
      const parsed = errorBody.safeParse(payload)
      const { code, message } = parsed.success ? parsed.data.error : { code: 'HTTP', message: res.statusText }
      throw new RingKitRestError(res.status, code, `${method} ${path}: ${res.status} ${code} ${message}`)
    }
    const parsed = schema.safeParse(payload)
    if (!parsed.success) throw new RingKitRestError(res.status, 'BAD_RESPONSE', `${method} ${path}: unexpected body`)
    return parsed.data
  }

  return {
    async createAccount(accid, name) {
      await call('POST', '/v1/accounts', z.unknown(), { accid, name })
    },
    issueToken: (accid, ttlSeconds) => call('POST', '/v1/tokens', tokenBody, { accid, ttlSeconds }),
    listCalls(accid, { limit, cursor }) {
      const query = new URLSearchParams({ limit: String(limit), ...(cursor === undefined ? {} : { cursor }) })
      return call('GET', `/v1/accounts/${encodeURIComponent(accid)}/calls?${query}`, historyResultSchema)
    },
  }
}

const JSON_TYPE = { 'content-type': 'application/json' }

/** AppKey, a fresh Nonce, CurTime in Unix seconds, and CheckSum = hex SHA-1 of secret + Nonce + CurTime. */
export function signedHeaders(appKey: string, appSecret: string, now = Date.now()): Record<string, string> {
  const nonce = randomBytes(16).toString('hex')
  const curTime = String(Math.floor(now / 1000))
  const checkSum = createHash('sha1')
    .update(appSecret + nonce + curTime)
    .digest('hex')
  return { AppKey: appKey, Nonce: nonce, CurTime: curTime, CheckSum: checkSum }
}
