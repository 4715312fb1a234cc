import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import WebSocket from 'ws'
import type { App } from '../src/index.ts'
import {
  DocSchemas,
  parseRouteTree,
  readmeExamples,
  readmeRestTable,
  type Answer,
  type OpenApiDoc,
} from './openapi-support.ts'
import { signedHeaders, startTestServer, TestDevice, type TestServer } from './support.ts'

const README = new URL('../../../README.md', import.meta.url)
/**
 * fastify answers HEAD for every GET by itself (exposeHeadRoutes); the document describes the GETs.
 * OPTIONS answers a browser's CORS preflight (the notification's Decline): not an operation.
 */
const UNDESCRIBED_METHODS = new Set(['HEAD', 'OPTIONS'])
/** Not a fastify route: server.ts takes the WebSocket upgrade before fastify sees the request. */
const NOT_FASTIFY = new Set(['GET /v1/signal'])

// A server without the demo: its pages and /demo/api are an app mounted beside the API, not the API.
let server: TestServer
let http: FastifyInstance | undefined
let doc: DocSchemas
const exercised = new Set<string>()

before(async () => {
  server = await startTestServer({ mount: (app) => void (http = app) })
  const res = await fetch(`${server.url}/v1/openapi.json`)
  assert.equal(res.status, 200)
  doc = new DocSchemas((await res.json()) as OpenApiDoc)
})
after(async () => {
  await TestDevice.closeAll()
  await server.close()
})

interface Sent {
  body?: unknown
  /** Signed for this app unless false. */
  app?: App | false
  headers?: Record<string, string>
}

/** A real request; its answer must fit what the document says of that route and status. */
async function send(method: string, path: string, o: Sent = {}): Promise<Answer> {
  const app = o.app ?? server.app
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(app ? signedHeaders(app) : {}),
      ...(o.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...o.headers,
    },
    ...(o.body === undefined ? {} : { body: JSON.stringify(o.body) }),
  })
  const type = res.headers.get('content-type') ?? undefined
  const text = await res.text()
  const answer = {
    status: res.status,
    type,
    body: text && type?.startsWith('application/json') ? JSON.parse(text) : text,
  }
  assert.deepEqual(doc.checkAnswer(method, path, answer), [], `${method} ${path}`)
  exercised.add(`${method} ${doc.find(method, path).template}`)
  return answer
}

const code = (answer: Answer) => (answer.body as { error?: { code?: string } }).error?.code

describe('GET /v1/openapi.json', () => {
  it('answers without a CheckSum with an OpenAPI 3.1 document that fits its own description', async () => {
    const answer = await send('GET', '/v1/openapi.json', { app: false })
    assert.equal(answer.status, 200)
    assert.equal(doc.doc.openapi, '3.1.0')
    assert.deepEqual(Object.keys(doc.doc.components.securitySchemes), ['AppKey', 'Nonce', 'CurTime', 'CheckSum'])
  })

  it('every JSON Schema in it compiles with ajv as draft 2020-12 in strict mode', () => {
    const pointers = doc.pointers()
    for (const pointer of pointers) assert.doesNotThrow(() => doc.validator(pointer), pointer)
    // Components, parameters, request bodies and every documented answer of 14 operations.
    assert.ok(pointers.length > 60, `only ${pointers.length} schemas`)
    assert.ok(pointers.includes('/components/schemas/CallRecord'))
  })

  it('describes every route the server registers, and each operation it has is a route of the server', async () => {
    assert.ok(http, 'the mount hook saw the server')
    const routes = parseRouteTree(http.printRoutes({ commonPrefix: false }))
    for (const route of routes) assert.ok(http.hasRoute(route), `parsed ${route.method} ${route.url} from the tree`)
    const registered = new Set(
      routes
        .filter((route) => !UNDESCRIBED_METHODS.has(route.method))
        .map((route) => `${route.method} ${route.url.replace(/:(\w+)/g, '{$1}')}`),
    )
    assert.ok(registered.has('GET /healthz') && registered.has('POST /v1/tokens'), [...registered].join(', '))
    const described = new Set(
      Object.entries(doc.doc.paths).flatMap(([path, item]) =>
        Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    )
    assert.deepEqual(
      [...registered].filter((route) => !described.has(route)),
      [],
      'routes missing from the document',
    )
    const extra = [...described].filter((route) => !registered.has(route))
    assert.deepEqual(extra, [...NOT_FASTIFY], 'operations no route answers')
  })

  it('GET /v1/signal, described as a WebSocket upgrade, switches protocols', async () => {
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/signal`)
    const status = await new Promise<number>((resolve, reject) => {
      socket.once('upgrade', (res) => resolve(res.statusCode ?? 0))
      socket.once('error', reject)
    })
    socket.close()
    assert.equal(status, 101)
    assert.ok(doc.doc.paths['/v1/signal']?.get?.responses['101'])
  })

  it('asks for the four CheckSum headers exactly where the server refuses a request without them', async () => {
    for (const [path, item] of Object.entries(doc.doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        if (NOT_FASTIFY.has(`${method.toUpperCase()} ${path}`)) continue
        const url = path.replace(/\{(\w+)\}/g, 'x')
        const answer = await send(method.toUpperCase(), url, { app: false })
        const refused = answer.status === 401 && code(answer) === 'AUTH_MISSING'
        assert.equal(refused, op.security.length > 0, `${method} ${path}: ${answer.status}`)
        if (refused) assert.deepEqual(op.security, [{ AppKey: [], Nonce: [], CurTime: [], CheckSum: [] }])
      }
    }
  })
})

describe('the README', () => {
  it("REST table lists the document's API operations, with the body fields and query they take", () => {
    const rows = readmeRestTable(README)
    const listed = new Set(rows.flatMap((row) => row.methods.map((m) => `${m} ${row.path.replace(/:(\w+)/g, '{$1}')}`)))
    const api = Object.entries(doc.doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    )
    // The browser bundle and the signaling socket have README sections of their own.
    const elsewhere = ['GET /ringkit.js', 'GET /ringkit.js.map', 'GET /ringkit-sw.js', 'GET /v1/signal']
    assert.deepEqual(api.filter((op) => !elsewhere.includes(op)).sort(), [...listed].sort())
    for (const row of rows) {
      const { op } = doc.find(row.methods[0] ?? '', row.path.replace(/:(\w+)/g, 'x'))
      const body = op.requestBody?.content['application/json']?.schema as { $ref?: string } | undefined
      if (row.fields) {
        const name = body?.$ref?.split('/').pop() ?? ''
        const schema = doc.doc.components.schemas[name] as { properties: object; required?: string[] }
        assert.deepEqual(
          row.fields.map((f) => f.replace('?', '')).sort(),
          Object.keys(schema.properties).sort(),
          row.path,
        )
        assert.deepEqual(
          row.fields.filter((f) => !f.endsWith('?')).sort(),
          [...(schema.required ?? [])].sort(),
          `${row.path}: required fields`,
        )
      }
      const query = (op.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name)
      assert.deepEqual(row.query ?? [], query, `${row.path}: query`)
    }
  })

  it('requests and answers fit the document, and the server answers them as shown', async () => {
    const { calls, exchanges } = readmeExamples(README)
    assert.ok(calls.length >= 2 && exchanges.length >= 3, `${calls.length} calls, ${exchanges.length} exchanges`)
    // In an app of their own, in the README's order: the accounts its calls create are its answers' accounts.
    const app = await server.createApp({ name: 'readme' })
    for (const example of calls) {
      assert.deepEqual(doc.checkRequest(example.method, example.path, example.body), [], example.path)
      await send(example.method, example.path, { app, body: example.body })
    }
    for (const { method, path, body, answer } of exchanges) {
      assert.deepEqual(doc.checkRequest(method, path, body), [], `${method} ${path}`)
      const shown = { ...answer, type: 'application/json' }
      assert.deepEqual(doc.checkAnswer(method, path, shown), [], `${method} ${path}: as the README shows it`)
      const real = await send(method, path, { app, body })
      assert.equal(real.status, answer.status, `${method} ${path}`)
      assert.deepEqual(Object.keys(real.body as object).sort(), Object.keys(answer.body as object).sort(), path)
    }
  })
})

describe('real answers', () => {
  it('of every operation, success and failure, fit the schemas the document gives them', async () => {
    assert.equal((await send('GET', '/healthz', { app: false })).status, 200)
    assert.equal((await send('GET', '/v1/openapi.json', { app: false })).status, 200)
    assert.equal((await send('GET', '/metrics')).status, 200)
    assert.equal((await send('POST', '/v1/accounts', { body: { accid: 'oa-alice', name: 'Alice' } })).status, 201)
    assert.equal(code(await send('POST', '/v1/accounts', { body: { accid: 'oa-alice' } })), 'ACCOUNT_EXISTS')
    assert.equal(code(await send('POST', '/v1/accounts', { body: { accid: 'bad id!' } })), 'INVALID_PARAMS')
    assert.equal((await send('GET', '/v1/accounts/oa-alice')).status, 200)
    assert.equal(code(await send('GET', '/v1/accounts/oa-nobody')), 'ACCOUNT_NOT_FOUND')
    assert.equal(
      (await send('PATCH', '/v1/accounts/oa-alice', { body: { avatar: 'https://a.example/1.png' } })).status,
      200,
    )
    assert.equal((await send('PATCH', '/v1/accounts/oa-alice')).status, 200, 'no body changes nothing')
    assert.equal((await send('POST', '/v1/tokens', { body: { accid: 'oa-alice', ttlSeconds: 60 } })).status, 200)
    assert.equal(code(await send('POST', '/v1/tokens')), 'INVALID_PARAMS')
    const bigBody = { accid: 'oa-alice', name: 'x'.repeat(70 * 1024) }
    assert.equal(code(await send('PATCH', '/v1/accounts/oa-alice', { body: bigBody })), 'FRAME_TOO_LARGE')
    const revoke = { headers: { 'content-type': 'application/json' } }
    assert.equal((await send('POST', '/v1/accounts/oa-alice/revoke', revoke)).status, 200)
    assert.equal(code(await send('GET', '/metrics', { headers: { CheckSum: '0'.repeat(40) } })), 'CHECKSUM_INVALID')

    const alice = await TestDevice.online(server, 'oa-alice')
    const bob = await TestDevice.online(server, 'oa-bob')
    const call = await alice.kit.call({ to: bob.accid, type: 'video', attachment: { order: 7 } })
    await (await bob.next('invited')).call.reject()
    await alice.next('record')
    const page = await send('GET', '/v1/accounts/oa-bob/calls?limit=1')
    assert.equal((page.body as { records: unknown[] }).records.length, 1)
    assert.equal(code(await send('GET', '/v1/accounts/oa-bob/calls?limit=0')), 'INVALID_PARAMS')
    assert.equal((await send('GET', `/v1/calls/${call.callId}`)).status, 200)
    assert.equal(code(await send('GET', '/v1/calls/oa-none')), 'CALL_NOT_FOUND')

    for (const path of ['/ringkit.js', '/ringkit.js.map']) {
      const etag = (await fetch(`${server.url}${path}`)).headers.get('etag') ?? ''
      assert.equal((await send('GET', path, { app: false })).status, 200)
      assert.equal((await send('GET', path, { app: false, headers: { 'if-none-match': etag } })).status, 304)
    }
    const operations = Object.entries(doc.doc.paths).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    )
    const untried = operations.filter((op) => !exercised.has(op) && !NOT_FASTIFY.has(op))
    assert.deepEqual(untried, [], 'operations no real answer was checked for')
  })

  it('a request body is refused with INVALID_PARAMS exactly when the document calls it invalid', async () => {
    const accid = fc.oneof(
      fc.constantFrom('oa-alice', 'oa-bob', 'a.b@c-d_e'),
      fc.string({ maxLength: 70 }),
      fc.integer(),
    )
    const text = fc.oneof(fc.string({ maxLength: 70 }), fc.string({ minLength: 1000, maxLength: 1100 }), fc.integer())
    const ttl = fc.oneof(
      fc.constantFrom(1, 604_800, 604_801, 0, 1.5),
      fc.integer({ min: -10, max: 700_000 }),
      fc.double(),
      fc.string(),
    )
    const fields = { accid, name: text, avatar: text, ttlSeconds: ttl, extra: fc.string() }
    const body = fc.oneof(
      { weight: 8, arbitrary: fc.record(fields, { requiredKeys: [] }) },
      { weight: 1, arbitrary: fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer()), fc.constant(undefined)) },
    )
    const routes = [
      ['POST', '/v1/accounts'],
      ['POST', '/v1/tokens'],
      ['PATCH', '/v1/accounts/oa-bob'],
    ] as const
    for (const [method, path] of routes) {
      // An app of its own: the runs stay within one app's request budget.
      const app = await server.createApp({ name: `property ${method} ${path}` })
      await send('POST', '/v1/accounts', { app, body: { accid: 'oa-bob' } })
      await fc.assert(
        fc.asyncProperty(body, async (sent) => {
          const wire = sent === undefined ? undefined : (JSON.parse(JSON.stringify(sent)) as unknown)
          const invalid = doc.checkRequest(method, path, wire).length > 0
          const answer = await send(method, path, { app, body: wire })
          assert.equal(code(answer) === 'INVALID_PARAMS', invalid, `${JSON.stringify(wire)}: ${answer.status}`)
        }),
        { numRuns: 60 },
      )
    }
  })
})
