import { createRequire } from 'node:module'
import { z } from 'zod'
import type { ErrorCode } from '@ringkit/protocol'
import { API_ROUTES, BUNDLE_ROUTES, httpStatusOf, NAMED_SCHEMAS, SIGNAL_ROUTE, type RouteSpec } from './api.ts'

type JsonSchema = Record<string, unknown>

const AUTH_HEADERS = ['AppKey', 'Nonce', 'CurTime', 'CheckSum'] as const
const AUTH_ERRORS: ErrorCode[] = [
  'AUTH_MISSING',
  'APP_NOT_FOUND',
  'CHECKSUM_INVALID',
  'CURTIME_EXPIRED',
  'NONCE_REUSED',
  'RATE_LIMITED',
]
const AUTH_DESCRIPTION: Record<(typeof AUTH_HEADERS)[number], string> = {
  AppKey: "The app's AppKey.",
  Nonce: 'Random, at most 128 characters; never used twice within 300 s.',
  CurTime: 'Unix seconds, in decimal digits without leading zeros; at most 300 s from the server clock.',
  CheckSum: 'Lowercase hex SHA-1 of appSecret + Nonce + CurTime.',
}

/**
 * The OpenAPI 3.1 document of every HTTP route, written from the route table: the JSON Schemas
 * are zod's own conversion of the schemas that validate the requests, never restated by hand.
 */
export function buildOpenApi(): JsonSchema {
  const schemas = namedSchemas()
  const refs = new Map<z.ZodType, string>()
  for (const group of Object.values(NAMED_SCHEMAS)) {
    for (const [name, schema] of Object.entries(group)) refs.set(schema, `#/components/schemas/${name}`)
  }
  const paths: Record<string, Record<string, unknown>> = {}
  const routes: RouteSpec[] = [...Object.values(API_ROUTES), ...Object.values(BUNDLE_ROUTES), SIGNAL_ROUTE]
  for (const [id, route] of routeIds(routes)) {
    const path = route.path.replace(/:(\w+)/g, '{$1}')
    paths[path] = { ...paths[path], [route.method.toLowerCase()]: operation(id, route, refs) }
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'RingKit',
      version: serverVersion(),
      description:
        'The HTTP API of a RingKit server for app backends: accounts, tokens and call records. ' +
        'Every signed request carries the four headers AppKey, Nonce, CurTime and CheckSum.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    paths,
    components: {
      schemas,
      securitySchemes: Object.fromEntries(
        AUTH_HEADERS.map((name) => [name, { type: 'apiKey', in: 'header', name, description: AUTH_DESCRIPTION[name] }]),
      ),
    },
  }
}

/** operationIds: the table's keys, as generated clients name their methods. */
function routeIds(routes: RouteSpec[]): [string, RouteSpec][] {
  const ids = new Map<RouteSpec, string>()
  for (const table of [API_ROUTES, BUNDLE_ROUTES]) {
    for (const [id, route] of Object.entries(table)) ids.set(route, table === BUNDLE_ROUTES ? `bundle_${id}` : id)
  }
  return routes.map((route) => [ids.get(route) ?? 'signal', route])
}

function namedSchemas(): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {}
  for (const [io, group] of [
    ['input', NAMED_SCHEMAS.requests],
    ['output', NAMED_SCHEMAS.responses],
  ] as const) {
    const registry = z.registry<{ id: string }>()
    for (const [id, schema] of Object.entries(group)) registry.add(schema, { id })
    const converted = z.toJSONSchema(registry, { io, uri: (id) => `#/components/schemas/${id}` })
    for (const [id, schema] of Object.entries(converted.schemas)) out[id] = bare(schema as JsonSchema)
  }
  return out
}

/** A schema as one of the document's own, without the `$schema` and `$id` of a standalone one. */
function bare(schema: JsonSchema): JsonSchema {
  const { $schema: _dialect, $id: _id, ...rest } = schema
  return rest
}

function inline(schema: z.ZodType, io: 'input' | 'output', refs: Map<z.ZodType, string>): JsonSchema {
  const ref = refs.get(schema)
  return ref ? { $ref: ref } : bare(z.toJSONSchema(schema, { io }) as JsonSchema)
}

function operation(id: string, route: RouteSpec, refs: Map<z.ZodType, string>): JsonSchema {
  const signed = route.auth === 'checkSum'
  const params = [...parameters(route.params, 'path'), ...parameters(route.query, 'query')]
  return {
    operationId: id,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    security: signed ? [Object.fromEntries(AUTH_HEADERS.map((name) => [name, []]))] : [],
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(route.body
      ? {
          requestBody: {
            required: route.body.required,
            content: { 'application/json': { schema: inline(route.body.schema, 'input', refs) } },
          },
        }
      : {}),
    responses: { ...answers(route, refs), ...errorAnswers(route) },
  }
}

function parameters(schema: z.ZodObject | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!schema) return []
  const converted = z.toJSONSchema(schema, { io: 'input' }) as {
    properties?: Record<string, JsonSchema>
    required?: string[]
  }
  return Object.entries(converted.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (converted.required ?? []).includes(name),
    ...(typeof property.description === 'string' ? { description: property.description } : {}),
    schema: property,
  }))
}

function answers(route: RouteSpec, refs: Map<z.ZodType, string>): Record<string, JsonSchema> {
  const out: Record<string, JsonSchema> = {}
  for (const [status, answer] of Object.entries(route.responses)) {
    const type = answer.type ?? (answer.schema ? 'application/json' : undefined)
    const schema = answer.schema ? inline(answer.schema, 'output', refs) : { type: 'string' }
    out[status] = { description: answer.description, ...(type ? { content: { [type]: { schema } } } : {}) }
  }
  return out
}

/** Each error status the route can answer with, and the codes it may carry. */
function errorAnswers(route: RouteSpec): Record<string, JsonSchema> {
  const codes = new Set<ErrorCode>(route.errors ?? [])
  if (route.auth === 'checkSum') for (const code of AUTH_ERRORS) codes.add(code)
  if (route.params || route.query || route.method !== 'GET') codes.add('INVALID_PARAMS')
  if (route.method !== 'GET') codes.add('FRAME_TOO_LARGE')
  if (route !== SIGNAL_ROUTE) codes.add('REQUEST_TOO_SLOW').add('INTERNAL')
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) byStatus.set(httpStatusOf(code), [...(byStatus.get(httpStatusOf(code)) ?? []), code])
  const out: Record<string, JsonSchema> = {}
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    if (route.responses[status]) continue
    out[String(status)] = {
      description: list.join(', '),
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    }
  }
  return out
}

function serverVersion(): string {
  // The package's own manifest: from src/http or dist/http alike, two levels up.
  const manifest = createRequire(import.meta.url)('../../package.json') as { version: string }
  return manifest.version
}
