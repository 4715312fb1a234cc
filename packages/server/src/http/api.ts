import { z } from 'zod'
import { accidSchema, callRecordSchema, ERROR_CODES, historyResultSchema, type ErrorCode } from '@ringkit/protocol'
import { MAX_TOKEN_TTL_SECONDS } from '../auth/tokens.ts'
import { WEBHOOK_EVENT_TYPES } from '../webhooks/events.ts'

/**
 * The HTTP API as data: each route's method, path, auth, the zod schemas its input is validated
 * with and the answers it gives. routes.ts registers the routes from this table and openapi.ts
 * writes `/v1/openapi.json` from it, so what is checked and what is documented are one thing.
 */
export interface RouteSpec {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE'
  /** Fastify's form, `:name` for a path parameter. */
  path: string
  summary: string
  description?: string
  /** `checkSum`: the four signed headers (AppKey, Nonce, CurTime, CheckSum); `none`: open. Per path. */
  auth: 'checkSum' | 'none'
  params?: z.ZodObject
  query?: z.ZodObject
  /** A body that is not `required` may be left out; the route then reads it as `{}`. */
  body?: { schema: z.ZodType; required: boolean }
  /** By status. The first 2xx is the status a route answers with when it succeeds. */
  responses: Readonly<Record<number, Answer>>
  /** Error codes this route itself answers with; those of auth and parsing are added by kind. */
  errors?: readonly ErrorCode[]
}

export interface Answer {
  description: string
  schema?: z.ZodType
  /** The media type; JSON unless told. */
  type?: string
}

/** The HTTP status of each error code a route answers with; any other code is 400. */
export const HTTP_STATUS: Partial<Record<ErrorCode, number>> = {
  AUTH_MISSING: 401,
  APP_NOT_FOUND: 401,
  CHECKSUM_INVALID: 401,
  CURTIME_EXPIRED: 401,
  NONCE_REUSED: 401,
  NOT_FOUND: 404,
  ACCOUNT_NOT_FOUND: 404,
  CALL_NOT_FOUND: 404,
  ACCOUNT_EXISTS: 409,
  WEBHOOK_NOT_FOUND: 404,
  EVENT_NOT_FOUND: 404,
  TOO_MANY_WEBHOOKS: 409,
  FRAME_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  SERVER_DRAINING: 503,
  CLUSTER_UNAVAILABLE: 503,
  STORE_UNAVAILABLE: 503,
  // Answered before a route is reached (timeouts.ts, the WebSocket upgrade in server.ts).
  REQUEST_TOO_SLOW: 408,
  TOO_MANY_CONNECTIONS: 429,
}

export const httpStatusOf = (code: ErrorCode): number => HTTP_STATUS[code] ?? 400

const errorCodes = Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]
export const errorBodySchema = z
  .object({ error: z.object({ code: z.enum(errorCodes), message: z.string() }) })
  .describe('Every error answer. `code` is stable (see the README); `message` is for people.')

const epochMs = (what: string) => z.number().int().describe(`${what} (epoch ms)`)
export const accountSchema = z.object({
  accid: z.string(),
  name: z.string(),
  avatar: z.string(),
  createdAt: epochMs('when the account was created'),
  updatedAt: epochMs('when its name or avatar last changed'),
  tokensValidAfter: epochMs('tokens issued before this instant are revoked; 0 when none was'),
})
export const tokenSchema = z.object({
  accid: z.string(),
  token: z.string().describe('an HS256 JWT for `login({ accid, token })`'),
  expiresAt: epochMs('when the token stops being accepted at login'),
})
const revokedSchema = z.object({ accid: z.string(), revoked: z.literal(true) })
const healthSchema = z.object({
  ok: z.literal(true),
  status: z.enum(['ok', 'draining']).describe('`draining`: the node is letting its calls end before it exits'),
})
const readySchema = z.object({ ready: z.literal(true) })
const notReadySchema = z.object({ ready: z.literal(false), error: errorBodySchema.shape.error })
/** Source map v3, the fields a debugger needs. */
const sourceMapSchema = z.looseObject({ version: z.literal(3), sources: z.array(z.string()), mappings: z.string() })
/** Only the document's outline: the full OpenAPI 3.1 schema is not the server's to restate. */
const openApiSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
})

const profile = { name: z.string().max(64).optional(), avatar: z.string().max(1024).optional() }
const createAccountBody = z.strictObject({ accid: accidSchema, ...profile })
const patchAccountBody = z.strictObject(profile)
const tokenBody = z.strictObject({
  accid: accidSchema,
  ttlSeconds: z
    .number()
    .int()
    .min(1)
    .max(MAX_TOKEN_TTL_SECONDS)
    .optional()
    .describe('how long the token lives; 24 h when left out'),
})
const accidParams = z.object({ accid: accidSchema })
const callParams = z.object({ callId: z.string().min(1).max(64) })
const pageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  cursor: z.string().max(128).optional().describe('`nextCursor` of the page before'),
})

const webhookSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.string()).nullable().describe('the event types it takes; `null`: all'),
  secret: z.string().describe('`whsec_` and the base64 signing key: see "Webhooks" in the README'),
  disabled: z.boolean().describe('it answered 410 Gone, and nothing more is sent to it until a redelivery'),
  createdAt: epochMs('when it was registered'),
})
const createWebhookBody = z.strictObject({
  url: z.string().max(2048).describe('http or https; where each event is POSTed'),
  events: z
    .array(z.enum(WEBHOOK_EVENT_TYPES))
    .min(1)
    .max(WEBHOOK_EVENT_TYPES.length)
    .optional()
    .describe('the event types to send; all when left out'),
})
const webhookParams = z.object({ id: z.string().min(1).max(64) })
const deliverySchema = z.object({
  eventId: z.string().describe('the `webhook-id` of the attempt'),
  type: z.string(),
  attempt: z.number().int().describe('1 for the first attempt of the event'),
  status: z.number().int().describe('the HTTP status answered; 0 when no answer came'),
  error: z.string().optional(),
  at: epochMs('when the attempt was made'),
})
const redeliverBody = z.strictObject({ eventId: z.string().min(1).max(64) })
const declineBody = z.strictObject({ token: z.string().min(1).max(2048) })

/** The named schemas of the document's `components`: what client generators turn into types. */
export const NAMED_SCHEMAS = {
  requests: {
    CreateAccount: createAccountBody,
    UpdateAccount: patchAccountBody,
    TokenRequest: tokenBody,
    CreateWebhook: createWebhookBody,
    Redeliver: redeliverBody,
    PushDecline: declineBody,
  },
  responses: {
    Account: accountSchema,
    Token: tokenSchema,
    CallRecord: callRecordSchema,
    Webhook: webhookSchema,
    WebhookDelivery: deliverySchema,
    RecordPage: historyResultSchema,
    Error: errorBodySchema,
  },
} as const

const json = (description: string, schema: z.ZodType): Answer => ({ description, schema })

/** Routes registered by routes.ts. */
export const API_ROUTES = {
  health: {
    method: 'GET',
    path: '/healthz',
    summary: 'Liveness',
    auth: 'none',
    responses: { 200: json('the server is up', healthSchema) },
  },
  ready: {
    method: 'GET',
    path: '/readyz',
    summary: 'Readiness: whether this node should get new traffic',
    description: 'For load balancers: 503 while the node drains or its store does not answer.',
    auth: 'none',
    responses: {
      200: json('the node takes traffic', readySchema),
      503: json('SERVER_DRAINING, STORE_UNAVAILABLE or CLUSTER_UNAVAILABLE', notReadySchema),
    },
  },
  metrics: {
    method: 'GET',
    path: '/metrics',
    summary: 'Prometheus metrics',
    auth: 'checkSum',
    responses: { 200: { description: 'the Prometheus text format', type: 'text/plain' } },
  },
  openapi: {
    method: 'GET',
    path: '/v1/openapi.json',
    summary: 'This document',
    description: 'The OpenAPI 3.1 description of the API, for client generators, Postman or Swagger UI.',
    auth: 'none',
    responses: { 200: json('the OpenAPI document', openApiSchema) },
  },
  createAccount: {
    method: 'POST',
    path: '/v1/accounts',
    summary: 'Create an account',
    auth: 'checkSum',
    body: { schema: createAccountBody, required: true },
    responses: { 201: json('the new account', accountSchema) },
    errors: ['ACCOUNT_EXISTS'],
  },
  getAccount: {
    method: 'GET',
    path: '/v1/accounts/:accid',
    summary: 'Read an account',
    auth: 'checkSum',
    params: accidParams,
    responses: { 200: json('the account', accountSchema) },
    errors: ['ACCOUNT_NOT_FOUND'],
  },
  updateAccount: {
    method: 'PATCH',
    path: '/v1/accounts/:accid',
    summary: 'Update name and avatar',
    auth: 'checkSum',
    params: accidParams,
    body: { schema: patchAccountBody, required: false },
    responses: { 200: json('the account as it is now', accountSchema) },
    errors: ['ACCOUNT_NOT_FOUND'],
  },
  issueToken: {
    method: 'POST',
    path: '/v1/tokens',
    summary: 'Issue a login token',
    description: 'Default 24 h, at most 7 days.',
    auth: 'checkSum',
    body: { schema: tokenBody, required: true },
    responses: { 200: json('the token', tokenSchema) },
    errors: ['ACCOUNT_NOT_FOUND'],
  },
  revokeTokens: {
    method: 'POST',
    path: '/v1/accounts/:accid/revoke',
    summary: "Invalidate all of the account's tokens and log its devices out",
    description:
      'Takes no body; an empty one with `Content-Type: application/json` is accepted too. ' +
      'CLUSTER_UNAVAILABLE: the tokens are revoked, but a node holding a device of the account could not be told; ' +
      'send the revoke again.',
    auth: 'checkSum',
    params: accidParams,
    responses: { 200: json('done', revokedSchema) },
    errors: ['ACCOUNT_NOT_FOUND', 'CLUSTER_UNAVAILABLE'],
  },
  listCalls: {
    method: 'GET',
    path: '/v1/accounts/:accid/calls',
    summary: "The account's call records, newest first",
    auth: 'checkSum',
    params: accidParams,
    query: pageQuery,
    responses: { 200: json('a page; `nextCursor` is there while more follow', historyResultSchema) },
    errors: ['ACCOUNT_NOT_FOUND'],
  },
  getCall: {
    method: 'GET',
    path: '/v1/calls/:callId',
    summary: 'One call record',
    auth: 'checkSum',
    params: callParams,
    responses: { 200: json('the record', callRecordSchema) },
    errors: ['CALL_NOT_FOUND'],
  },
  createWebhook: {
    method: 'POST',
    path: '/v1/webhooks',
    summary: 'Register a webhook endpoint',
    description: "Events of the app's calls are POSTed to `url`, signed with `secret` (Standard Webhooks).",
    auth: 'checkSum',
    body: { schema: createWebhookBody, required: true },
    responses: { 201: json('the endpoint, with its signing secret', webhookSchema) },
    errors: ['TOO_MANY_WEBHOOKS', 'WEBHOOK_URL_REFUSED'],
  },
  listWebhooks: {
    method: 'GET',
    path: '/v1/webhooks',
    summary: "The app's webhook endpoints",
    auth: 'checkSum',
    responses: { 200: json('every endpoint, oldest first', z.object({ webhooks: z.array(webhookSchema) })) },
  },
  deleteWebhook: {
    method: 'DELETE',
    path: '/v1/webhooks/:id',
    summary: 'Remove a webhook endpoint',
    description: 'Events still waiting for it are dropped.',
    auth: 'checkSum',
    params: webhookParams,
    responses: { 200: json('done', z.object({ id: z.string(), deleted: z.literal(true) })) },
    errors: ['WEBHOOK_NOT_FOUND'],
  },
  listDeliveries: {
    method: 'GET',
    path: '/v1/webhooks/:id/deliveries',
    summary: "The endpoint's latest attempts, newest first",
    auth: 'checkSum',
    params: webhookParams,
    query: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20) }),
    responses: { 200: json('up to `limit` attempts', z.object({ deliveries: z.array(deliverySchema) })) },
    errors: ['WEBHOOK_NOT_FOUND'],
  },
  redeliver: {
    method: 'POST',
    path: '/v1/webhooks/:id/redeliver',
    summary: 'Send one event to the endpoint again',
    description: 'Under the same `webhook-id`; enables the endpoint again if a 410 had disabled it.',
    auth: 'checkSum',
    params: webhookParams,
    body: { schema: redeliverBody, required: true },
    responses: { 202: json('queued', z.object({ eventId: z.string(), queued: z.literal(true) })) },
    errors: ['WEBHOOK_NOT_FOUND', 'EVENT_NOT_FOUND'],
  },
  pushDecline: {
    method: 'POST',
    path: '/v1/push/decline',
    summary: 'Decline a call from its notification',
    description:
      'For ringkit-sw.js, from any origin: no CheckSum, the token the push carried (for one call and account, ' +
      'until the call stops ringing) is the proof.',
    auth: 'none',
    body: { schema: declineBody, required: true },
    responses: { 200: json('the call is declined', z.object({ declined: z.literal(true) })) },
    errors: [
      'TOKEN_INVALID',
      'TOKEN_EXPIRED',
      'TOKEN_REVOKED',
      'CALL_NOT_FOUND',
      'NOT_IN_CALL',
      'INVALID_STATE',
      'RATE_LIMITED',
    ],
  },
} as const satisfies Record<string, RouteSpec>

export type ApiRoutes = typeof API_ROUTES

/** Routes registered by browser-bundle.ts. */
export const BUNDLE_ROUTES = {
  code: {
    method: 'GET',
    path: '/ringkit.js',
    summary: 'The client SDK and the UI kit as one ES module',
    description: 'Readable from any origin; `no-cache` with an ETag, so `If-None-Match` gets a 304.',
    auth: 'none',
    responses: {
      200: { description: 'the module', type: 'text/javascript' },
      304: { description: 'unchanged since the ETag given in If-None-Match' },
    },
  },
  serviceWorker: {
    method: 'GET',
    path: '/ringkit-sw.js',
    summary: 'The service worker script that rings a closed page',
    description: "An app's own worker loads it with `importScripts('<server>/ringkit-sw.js')`.",
    auth: 'none',
    responses: { 200: { description: 'the script', type: 'text/javascript' } },
  },
  map: {
    method: 'GET',
    path: '/ringkit.js.map',
    summary: "The module's source map",
    auth: 'none',
    responses: {
      200: json('the source map', sourceMapSchema),
      304: { description: 'unchanged since the ETag given in If-None-Match' },
    },
  },
} as const satisfies Record<string, RouteSpec>

/** Not a fastify route: server.ts hands the upgrade to the WebSocket gateway. */
export const SIGNAL_ROUTE = {
  method: 'GET',
  path: '/v1/signal',
  summary: 'The signaling WebSocket of one device',
  description:
    'A WebSocket upgrade; frames are JSON, and login is the first (see the README). No CheckSum: a device ' +
    'proves itself with its token in that frame.',
  auth: 'none',
  responses: {
    101: { description: 'switched to the WebSocket protocol' },
    429: json('TOO_MANY_CONNECTIONS: too many sockets from this address', errorBodySchema),
  },
} as const satisfies RouteSpec
