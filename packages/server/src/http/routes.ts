import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { z } from 'zod'
import { RingKitError } from '@ringkit/protocol'
import { readAuthHeaders, verifyCheckSum, type NonceStore } from '../auth/checksum.ts'
import { createToken } from '../auth/tokens.ts'
import type { RateLimiter } from '../guards/rate-limiter.ts'
import type { Rate } from '../limits.ts'
import type { Metrics } from '../metrics.ts'
import type { App, Store } from '../store/types.ts'
import { API_ROUTES, httpStatusOf, type ApiRoutes, type RouteSpec } from './api.ts'
import { buildOpenApi } from './openapi.ts'
import { VerifiedApps } from './verified-apps.ts'
import { webhookHandlers, type WebhookRouteOptions } from './webhook-handlers.ts'
export interface RestOptions {
  store: Store
  nonces: NonceStore
  metrics: Metrics
  rates: RateLimiter
  /** Requests per app, counted once the CheckSum passed: an AppKey is public, a budget anyone could spend is not. */
  restRate: Rate
  /**
   * Logs an account's devices out after its tokens are revoked; in a cluster, resolves once every
   * node holding one was told, and rejects with CLUSTER_UNAVAILABLE when one could not be.
   */
  kickAccount: (appKey: string, accid: string) => void | Promise<void>
  webhooks: Omit<WebhookRouteOptions, 'store'>
  /** Declines the call a notification's token is for. */
  declineFromPush: (token: string) => Promise<void>
  /** What /healthz and /readyz tell load balancers about this node. */
  node: {
    draining: () => boolean
    /** Resolves when the node's store (and shared parts) answer; rejects with a RingKitError otherwise. */
    ready: () => Promise<void>
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    ringkitApp: App | null
  }
}

type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined
/** What a route's handler gets: its input parsed with the table's schemas, and the signed app. */
interface RouteInput<R extends RouteSpec> {
  params: Parsed<R extends { params: infer S } ? S : undefined>
  query: Parsed<R extends { query: infer S } ? S : undefined>
  body: Parsed<R extends { body: { schema: infer S } } ? S : undefined>
  request: FastifyRequest
  reply: FastifyReply
}
interface ParsedInput {
  params: unknown
  query: unknown
  body: unknown
  request: FastifyRequest
  reply: FastifyReply
}
/** One handler per table entry: a route in the table without one, or one without a route, does not compile. */
export type Handlers = { [K in keyof ApiRoutes]: (input: RouteInput<ApiRoutes[K]>) => Promise<unknown> }

/** The REST API for app backends, registered from the route table in api.ts. */
export function registerRoutes(http: FastifyInstance, o: RestOptions): void {
  http.decorateRequest('ringkitApp', null)

  http.setErrorHandler((error: unknown, _request, reply) => sendError(reply, toRingKitError(error), o.metrics))
  http.setNotFoundHandler((_request, reply) => sendError(reply, new RingKitError('NOT_FOUND'), o.metrics))

  acceptEmptyJson(http)
  // While the store is away, /metrics stays readable with credentials it confirmed lately.
  const apps = new VerifiedApps(o.store)
  http.addHook('onRequest', async (request) => {
    if (!needsCheckSum(request)) return
    const headers = readAuthHeaders(request.headers)
    const { app, confirm } = await apps.get(headers.appKey)
    if (!app) throw new RingKitError('APP_NOT_FOUND')
    await verifyCheckSum(headers, app.appSecret, o.nonces, Date.now())
    confirm()
    if (!(await o.rates.take(`rest:${app.appKey}`, o.restRate))) {
      throw new RingKitError('RATE_LIMITED', 'too many requests from this app')
    }
    request.ringkitApp = app
  })

  // The notification's Decline is fetched by a service worker of the app's origin.
  http.options(API_ROUTES.pushDecline.path, async (_request, reply) =>
    reply
      .code(204)
      .header('access-control-allow-origin', '*')
      .header('access-control-allow-methods', 'POST')
      .header('access-control-allow-headers', 'content-type')
      .header('access-control-max-age', '600')
      .send(),
  )
  const handlers = routeHandlers(o)
  for (const [id, spec] of Object.entries(API_ROUTES) as [keyof ApiRoutes, RouteSpec][]) {
    // The one place the table's types are erased: each handler was checked against its own entry.
    const handle = handlers[id] as unknown as (input: ParsedInput) => Promise<unknown>
    const status = Number(Object.keys(spec.responses).find((code) => code.startsWith('2')))
    http.route({
      method: spec.method,
      url: spec.path,
      handler: async (request, reply) => {
        const input = {
          params: spec.params && parse(spec.params, request.params),
          query: spec.query && parse(spec.query, request.query),
          body: spec.body && parse(spec.body.schema, request.body ?? (spec.body.required ? undefined : {})),
          request,
          reply,
        }
        reply.code(status)
        return handle(input)
      },
    })
  }
}

const SIGNED_PATHS = new Set(
  Object.values(API_ROUTES as Record<string, RouteSpec>)
    .filter((route) => route.auth === 'checkSum')
    .map((route) => route.path),
)
const TABLE_PATHS = new Set<string>(Object.values(API_ROUTES).map((route) => route.path))

/**
 * A route of the table needs a CheckSum when the table says so. Go by the matched route, not the
 * raw URL: `/metrics?x` and `/%6detrics` reach /metrics too. An unmatched /v1 URL is a 404 only to
 * a signed request, so probing tells nothing; routes outside /v1 belong to an app mounted beside
 * the API (or the browser bundle), which does its own auth.
 */
function needsCheckSum(request: FastifyRequest): boolean {
  const route = request.routeOptions.url
  if (route !== undefined && TABLE_PATHS.has(route)) return SIGNED_PATHS.has(route)
  const path = route ?? request.url
  return path.startsWith('/v1/') && !path.startsWith('/v1/signal')
}

function routeHandlers(o: RestOptions): Handlers {
  const { store } = o
  let openApi: string | undefined
  return {
    ...webhookHandlers({ store, ...o.webhooks }, appOf),
    health: async () => ({ ok: true, status: o.node.draining() ? 'draining' : 'ok' }),
    // A node that drains stays live (/healthz) but takes no new traffic: a supervisor must not
    // kill it while its calls end, and a load balancer must send newcomers elsewhere.
    ready: async ({ reply }) => {
      const problem = o.node.draining()
        ? new RingKitError('SERVER_DRAINING')
        : await o.node.ready().then(
            () => undefined,
            (error: unknown) => toRingKitError(error),
          )
      if (!problem) return { ready: true }
      reply.code(503)
      return { ready: false, error: problem.toJSON() }
    },
    metrics: async ({ reply }) => {
      reply.type(o.metrics.registry.contentType)
      return o.metrics.registry.metrics()
    },
    // No CheckSum: the document describes the API and holds no secret, and client generators,
    // Postman and Swagger UI fetch it as a plain URL.
    openapi: async ({ reply }) => {
      openApi ??= JSON.stringify(buildOpenApi())
      return reply.type('application/json; charset=utf-8').send(openApi)
    },
    createAccount: async ({ body, request }) => {
      const account = await store.createAccount(appOf(request).appKey, body, Date.now())
      if (!account) throw new RingKitError('ACCOUNT_EXISTS', `account "${body.accid}" already exists`)
      return account
    },
    getAccount: async ({ params, request }) =>
      (await store.getAccount(appOf(request).appKey, params.accid)) ?? notFound(params.accid),
    updateAccount: async ({ params, body, request }) =>
      (await store.updateAccount(appOf(request).appKey, params.accid, body, Date.now())) ?? notFound(params.accid),
    issueToken: async ({ body, request }) => {
      const app = appOf(request)
      if (!(await store.getAccount(app.appKey, body.accid))) notFound(body.accid)
      const issued = await createToken({
        ...app,
        accid: body.accid,
        ...(body.ttlSeconds ? { ttlSeconds: body.ttlSeconds } : {}),
      })
      return { accid: body.accid, ...issued }
    },
    revokeTokens: async ({ params: { accid }, request }) => {
      const app = appOf(request)
      // Issued-at has millisecond precision: a token made in this same millisecond stays revoked too.
      if (!(await store.revokeTokens(app.appKey, accid, Date.now() + 1))) notFound(accid)
      await o.kickAccount(app.appKey, accid)
      return { accid, revoked: true }
    },
    listCalls: async ({ params: { accid }, query, request }) => {
      const app = appOf(request)
      if (!(await store.getAccount(app.appKey, accid))) notFound(accid)
      return store.listRecords(app.appKey, accid, query)
    },
    pushDecline: async ({ body, request, reply }) => {
      reply.header('access-control-allow-origin', '*')
      // No CheckSum to count by: the address is what a flood of forged tokens has in common.
      if (!(await o.rates.take(`decline:${request.ip}`, o.restRate))) {
        throw new RingKitError('RATE_LIMITED', 'too many declines from this address')
      }
      await o.declineFromPush(body.token)
      return { declined: true }
    },
    getCall: async ({ params: { callId }, request }) => {
      const record = await store.getRecord(appOf(request).appKey, callId)
      if (!record) throw new RingKitError('CALL_NOT_FOUND', `no record for call "${callId}"`)
      return record
    },
  }
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
  // The node is fine but what the nodes share is not: a retry after a pause may pass.
  if (error.code === 'CLUSTER_UNAVAILABLE') reply.header('retry-after', '1')
  return reply.code(httpStatusOf(error.code)).send({ error: error.toJSON() })
}
