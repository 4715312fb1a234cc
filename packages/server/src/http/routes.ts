import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import { accidSchema, RingKitError, type ErrorCode } from '@ringkit/protocol'
import { readAuthHeaders, verifyCheckSum, type NonceStore } from '../auth/checksum.ts'
import { createToken, MAX_TOKEN_TTL_SECONDS } from '../auth/tokens.ts'
import type { RateLimiter } from '../guards/rate-limiter.ts'
import type { Rate } from '../limits.ts'
import type { Metrics } from '../metrics.ts'
import type { App, Store } from '../store/types.ts'

export interface RestOptions {
  store: Store
  nonces: NonceStore
  metrics: Metrics
  rates: RateLimiter
  /** Requests per app, counted once the CheckSum passed: an AppKey is public, a budget anyone could spend is not. */
  restRate: Rate
  /** Logs an account's devices out after its tokens are revoked. */
  kickAccount: (appKey: string, accid: string) => void
}

const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  AUTH_MISSING: 401,
  APP_NOT_FOUND: 401,
  CHECKSUM_INVALID: 401,
  CURTIME_EXPIRED: 401,
  NONCE_REUSED: 401,
  NOT_FOUND: 404,
  ACCOUNT_NOT_FOUND: 404,
  CALL_NOT_FOUND: 404,
  ACCOUNT_EXISTS: 409,
  FRAME_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  STORE_UNAVAILABLE: 503,
}

const profile = { name: z.string().max(64).optional(), avatar: z.string().max(1024).optional() }
const createAccountBody = z.strictObject({ accid: accidSchema, ...profile })
const patchAccountBody = z.strictObject(profile)
const tokenBody = z.strictObject({
  accid: accidSchema,
  ttlSeconds: z.number().int().min(1).max(MAX_TOKEN_TTL_SECONDS).optional(),
})
const accidParams = z.object({ accid: accidSchema })
const callParams = z.object({ callId: z.string().min(1).max(64) })
const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(128).optional(),
})

declare module 'fastify' {
  interface FastifyRequest {
    ringkitApp: App | null
  }
}

/** The REST API for app backends: every route but /healthz needs a valid CheckSum. */
export function registerRoutes(http: FastifyInstance, o: RestOptions): void {
  const { store } = o
  http.decorateRequest('ringkitApp', null)

  http.setErrorHandler((error: unknown, _request, reply) => sendError(reply, toRingKitError(error), o.metrics))
  http.setNotFoundHandler((_request, reply) => sendError(reply, new RingKitError('NOT_FOUND'), o.metrics))

  acceptEmptyJson(http)
  http.get('/healthz', async () => ({ ok: true }))

  http.addHook('onRequest', async (request) => {
    // Go by the matched route, not the raw URL: `/metrics?x` and `/%6detrics` reach /metrics too.
    // Routes outside /v1 and /metrics belong to an app mounted beside the API, which does its own auth.
    const route = request.routeOptions.url
    const path = route ?? request.url
    if (route !== '/metrics' && (!path.startsWith('/v1/') || path.startsWith('/v1/signal'))) return
    const headers = readAuthHeaders(request.headers)
    const app = await store.getApp(headers.appKey)
    if (!app) throw new RingKitError('APP_NOT_FOUND')
    await verifyCheckSum(headers, app.appSecret, o.nonces, Date.now())
    if (!(await o.rates.take(`rest:${app.appKey}`, o.restRate))) {
      throw new RingKitError('RATE_LIMITED', 'too many requests from this app')
    }
    request.ringkitApp = app
  })

  http.get('/metrics', async (_request, reply) => {
    reply.type(o.metrics.registry.contentType)
    return o.metrics.registry.metrics()
  })

  http.post('/v1/accounts', async (request, reply) => {
    const body = parse(createAccountBody, request.body)
    const account = await store.createAccount(appOf(request).appKey, body, Date.now())
    if (!account) throw new RingKitError('ACCOUNT_EXISTS', `account "${body.accid}" already exists`)
    reply.code(201)
    return account
  })

  http.get('/v1/accounts/:accid', async (request) => {
    const { accid } = parse(accidParams, request.params)
    return (await store.getAccount(appOf(request).appKey, accid)) ?? notFound(accid)
  })

  http.patch('/v1/accounts/:accid', async (request) => {
    const { accid } = parse(accidParams, request.params)
    const patch = parse(patchAccountBody, request.body ?? {})
    return (await store.updateAccount(appOf(request).appKey, accid, patch, Date.now())) ?? notFound(accid)
  })

  http.post('/v1/tokens', async (request) => {
    const app = appOf(request)
    const body = parse(tokenBody, request.body)
    if (!(await store.getAccount(app.appKey, body.accid))) notFound(body.accid)
    const issued = await createToken({
      ...app,
      accid: body.accid,
      ...(body.ttlSeconds ? { ttlSeconds: body.ttlSeconds } : {}),
    })
    return { accid: body.accid, ...issued }
  })

  http.post('/v1/accounts/:accid/revoke', async (request) => {
    const app = appOf(request)
    const { accid } = parse(accidParams, request.params)
    // Issued-at has millisecond precision: a token made in this same millisecond stays revoked too.
    if (!(await store.revokeTokens(app.appKey, accid, Date.now() + 1))) notFound(accid)
    o.kickAccount(app.appKey, accid)
    return { accid, revoked: true }
  })

  http.get('/v1/accounts/:accid/calls', async (request) => {
    const app = appOf(request)
    const { accid } = parse(accidParams, request.params)
    const { limit, cursor } = parse(pageQuery, request.query)
    if (!(await store.getAccount(app.appKey, accid))) notFound(accid)
    return store.listRecords(app.appKey, accid, { limit, cursor })
  })

  http.get('/v1/calls/:callId', async (request) => {
    const { callId } = parse(callParams, request.params)
    const record = await store.getRecord(appOf(request).appKey, callId)
    if (!record) throw new RingKitError('CALL_NOT_FOUND', `no record for call "${callId}"`)
    return record
  })
}

/**
 * Many HTTP clients send `Content-Type: application/json` with no body on a body-less POST
 * (revoke): that is no body, not a malformed one. Anything else is parsed as before, and a route
 * that needs a body still refuses a missing one with INVALID_PARAMS.
 */
function acceptEmptyJson(http: FastifyInstance): void {
  const json = http.getDefaultJsonParser('error', 'error')
  http.removeContentTypeParser('application/json')
  http.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString()
    if (text === '') done(null, undefined)
    else json(request, text, done)
  })
}

function appOf(request: FastifyRequest): App {
  if (!request.ringkitApp) throw new RingKitError('AUTH_MISSING')
  return request.ringkitApp
}

function notFound(accid: string): never {
  throw new RingKitError('ACCOUNT_NOT_FOUND', `no account "${accid}" in this app`)
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value)
  if (result.success) return result.data
  const issue = result.error.issues[0]
  throw new RingKitError('INVALID_PARAMS', `${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}`)
}

function toRingKitError(error: unknown): RingKitError {
  if (error instanceof RingKitError) return error
  const fastifyError = error as { statusCode?: number; code?: string; message?: string }
  if (fastifyError.statusCode === 413) return new RingKitError('FRAME_TOO_LARGE', 'the request body is too large')
  if (fastifyError.statusCode !== undefined && fastifyError.statusCode < 500) {
    return new RingKitError('INVALID_PARAMS', fastifyError.message ?? 'bad request')
  }
  return new RingKitError('INTERNAL', undefined, { cause: error })
}

function sendError(reply: FastifyReply, error: RingKitError, metrics: Metrics): FastifyReply {
  metrics.httpErrors.inc({ code: error.code })
  if (error.code === 'INTERNAL') reply.log.error({ err: error.cause }, 'request failed')
  return reply.code(HTTP_STATUS[error.code] ?? 400).send({ error: error.toJSON() })
}
