/**
 * Frames for the signaling fuzz test: what a confused or hostile client sends, and what the protocol
 * says the server must answer each with. The oracle follows the gateway's order of checks.
 */
import fc from 'fast-check'
import {
  clientMessageSchema,
  MAX_FRAME_BYTES,
  MAX_FRAME_DEPTH,
  MAX_MESH_MEMBERS,
  type ClientMessage,
  type ClientMessageOf,
  type ErrorCode,
} from '@ringkit/protocol'

export const ALICE = 'fuzz-alice'
export const BOB = 'fuzz-bob'
export const MALLORY = 'fuzz-mallory'
export const OFFLINE = 'fuzz-offline'
const KNOWN_TYPES: ReadonlySet<string> = new Set(clientMessageSchema.options.map((o) => o.shape.type.value))

export type Who = 'mallory' | 'stranger'
export interface Frame {
  who: Who
  data: string | Buffer
}
export interface Ctx {
  callId: string
  appKey: string
  alice: { accid: string; deviceId: string }
  bob: { accid: string; deviceId: string }
}
/** What the server must answer a frame with: one frame with this id, an error with one of `codes` or a reply. */
export interface Outcome {
  id: string | null
  codes: ReadonlySet<ErrorCode>
  reply: boolean
}

const refuse = (id: string | null, ...codes: ErrorCode[]): Outcome => ({ id, codes: new Set(codes), reply: false })
const succeed = (id: string, ...codes: ErrorCode[]): Outcome => ({ id, codes: new Set(codes), reply: true })

/** The protocol as the gateway must apply it, in its order: size, JSON object, depth, schema, session. */
export function expected(frame: Frame, ctx: Ctx): Outcome {
  const bytes = typeof frame.data === 'string' ? Buffer.byteLength(frame.data) : frame.data.length
  if (bytes > MAX_FRAME_BYTES) return refuse(null, 'FRAME_TOO_LARGE')
  if (typeof frame.data !== 'string') return refuse(null, 'BAD_FRAME')
  const json = parseJson(frame.data)
  if (!isPlainObject(json)) return refuse(null, 'BAD_FRAME')
  const id = validId(json.id)
  if (depthOf(json) > MAX_FRAME_DEPTH) return refuse(id, 'INVALID_PARAMS')
  const parsed = clientMessageSchema.safeParse(json)
  if (!parsed.success) {
    return refuse(id, typeof json.type === 'string' && KNOWN_TYPES.has(json.type) ? 'INVALID_PARAMS' : 'UNKNOWN_TYPE')
  }
  return frame.who === 'stranger' ? strangerOutcome(parsed.data) : malloryOutcome(parsed.data, ctx)
}

function strangerOutcome(msg: ClientMessage): Outcome {
  if (msg.type === 'ping') return succeed(msg.id)
  if (msg.type === 'login') {
    return refuse(msg.id, 'APP_NOT_FOUND', 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_REVOKED')
  }
  return refuse(msg.id, 'NOT_LOGGED_IN')
}

/** Mallory is logged in, and in no call: every action on the live call is refused as NOT_IN_CALL. */
function malloryOutcome(msg: ClientMessage, ctx: Ctx): Outcome {
  switch (msg.type) {
    case 'ping':
      return succeed(msg.id)
    case 'history':
      return succeed(msg.id, 'INVALID_PARAMS')
    // A subscription whose endpoint is not a push service's is refused; any other is kept.
    case 'push':
      return succeed(msg.id, 'INVALID_PARAMS', 'RATE_LIMITED')
    case 'renew':
      return succeed(msg.id, 'TOKEN_INVALID', 'TOKEN_EXPIRED', 'TOKEN_REVOKED')
    case 'login':
      return refuse(msg.id, 'ALREADY_LOGGED_IN')
    case 'logout':
      throw new Error('logout frames go to the stranger only')
    case 'call': {
      const [to] = msg.to
      if (msg.group === true || msg.to.length > 1) return groupCallOutcome(msg)
      if (to === MALLORY) return refuse(msg.id, 'RATE_LIMITED', 'CALL_SELF')
      if (to === OFFLINE) return refuse(msg.id, 'RATE_LIMITED', 'CALLEE_OFFLINE')
      // Alice and Bob are in the live call: such a call succeeds and ends at once as busy.
      if (to === ALICE || to === BOB) return succeed(msg.id, 'RATE_LIMITED', 'CALLER_BUSY')
      return refuse(msg.id, 'RATE_LIMITED', 'ACCOUNT_NOT_FOUND')
    }
    default:
      return refuse(msg.id, msg.callId === ctx.callId ? 'NOT_IN_CALL' : 'CALL_NOT_FOUND')
  }
}

/**
 * A group call from Mallory, checked in this order: herself among the callees, too many people
 * for a mesh, an unknown account, nobody online. Otherwise it starts: Alice and Bob are busy, and a
 * callee without a device rings on until its timeout, so Mallory's next calls may find her busy.
 */
function groupCallOutcome(msg: ClientMessageOf<'call'>): Outcome {
  const to = new Set(msg.to)
  if (to.has(MALLORY)) return refuse(msg.id, 'RATE_LIMITED', 'CALL_SELF')
  if (to.size + 1 > MAX_MESH_MEMBERS) return refuse(msg.id, 'RATE_LIMITED', 'SFU_REQUIRED')
  if ([...to].some((accid) => ![ALICE, BOB, OFFLINE].includes(accid))) {
    return refuse(msg.id, 'RATE_LIMITED', 'ACCOUNT_NOT_FOUND')
  }
  if (!to.has(ALICE) && !to.has(BOB)) return refuse(msg.id, 'RATE_LIMITED', 'CALLEE_OFFLINE')
  return succeed(msg.id, 'RATE_LIMITED', 'CALLER_BUSY')
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function validId(id: unknown): string | null {
  return typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : null
}

/** Nesting depth of a JSON value, without recursion: the fuzz sends values nested thousands deep. */
function depthOf(value: unknown): number {
  let max = 0
  const stack: [unknown, number][] = [[value, 1]]
  for (let top = stack.pop(); top; top = stack.pop()) {
    const [v, depth] = top
    if (typeof v !== 'object' || v === null) continue
    max = Math.max(max, depth)
    for (const child of Object.values(v)) stack.push([child, depth + 1])
  }
  return max
}

/** Valid requests, by the schema, many of them aimed at the live call. */
function templates(ctx: Ctx): Record<string, unknown>[] {
  const { callId } = ctx
  const candidate = { kind: 'candidate', candidate: { candidate: 'candidate:1 1 udp 1 10.0.0.1 9 typ host' } }
  return [
    { type: 'accept', callId },
    { type: 'reject', callId },
    { type: 'cancel', callId },
    { type: 'hangup', callId },
    { type: 'hangup', callId, reason: 'failed' },
    { type: 'mediaState', callId, audio: false },
    { type: 'mediaState', callId, audio: true, video: false },
    { type: 'switchType', callId, callType: 'audio' },
    { type: 'switchTypeReply', callId, accept: true },
    { type: 'signal', callId, data: { kind: 'description', description: { type: 'offer', sdp: 'v=0\r\n' } } },
    { type: 'signal', callId, to: ctx.bob, data: candidate },
    { type: 'signal', callId, to: ctx.alice, data: null },
    { type: 'call', to: [ALICE], callType: 'video' },
    { type: 'call', to: [BOB], callType: 'audio', attachment: { topic: 'fuzz' }, timeoutMs: 5000 },
    { type: 'call', to: [MALLORY], callType: 'audio' },
    { type: 'call', to: [OFFLINE], callType: 'video' },
    { type: 'call', to: ['nobody-here'], callType: 'audio' },
    { type: 'call', to: [ALICE, BOB], callType: 'audio' },
    { type: 'history', limit: 5 },
    { type: 'history', cursor: 'not-a-cursor' },
    { type: 'push', subscription: { endpoint: 'http://127.0.0.1:1/push', keys: { p256dh: 'x', auth: 'y' } } },
    { type: 'push', subscription: null },
    { type: 'ping' },
    { type: 'ping', ack: 1 },
    { type: 'renew', token: 'not-a-token' },
    { type: 'login', appKey: ctx.appKey, accid: MALLORY, token: 'forged', deviceId: 'second' },
    { type: 'login', appKey: ctx.appKey, accid: ALICE, token: 'forged.token.sig', deviceId: ctx.alice.deviceId },
    { type: 'logout' },
  ]
}

const junk: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string({ maxLength: 70 }),
  fc.constantFrom<unknown>(
    ...['', 'x'.repeat(65), -1, 0, 1.5, 1e21, true, false, null, [], {}, 'audio', 'video', 'failed', [ALICE]],
    ...[{ accid: BOB, deviceId: 'bob-phone' }, undefined],
  ),
)

type Mutation =
  | { op: 'delete'; at: number }
  | { op: 'set'; at: number; value: unknown }
  | { op: 'add'; key: string; value: unknown }
  | { op: 'type'; value: unknown }

function mutationArbitrary(ctx: Ctx): fc.Arbitrary<Mutation> {
  const callIds = fc.oneof(fc.uuid(), fc.constantFrom(`${ctx.callId}x`, ctx.callId.toUpperCase(), '', 'x'.repeat(65)))
  const keys = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'to', 'data', 'id'))
  const types = fc.oneof(fc.constantFrom(...KNOWN_TYPES, 'Accept', 'accept ', 'event', 'reply', 'toString'), junk)
  return fc.oneof(
    fc.record({ op: fc.constant('delete' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: junk }),
    fc.record({ op: fc.constant('add' as const), key: keys, value: junk }),
    fc.record({ op: fc.constant('add' as const), key: fc.constant('callId'), value: callIds }),
    fc.record({ op: fc.constant('type' as const), value: types }),
  )
}

/** An own property even for `__proto__`, so that it reaches the wire. */
function define(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
}

function mutate(frame: Record<string, unknown>, mutations: Mutation[]): Record<string, unknown> {
  const copy = { ...frame }
  for (const m of mutations) {
    if (m.op === 'add') define(copy, m.key, m.value)
    else if (m.op === 'type') copy.type = m.value
    else {
      const keys = Object.keys(copy)
      const key = keys[m.at % Math.max(1, keys.length)]
      if (key === undefined) continue
      if (m.op === 'delete') delete copy[key]
      else define(copy, key, m.value)
    }
  }
  return copy
}

function frameArbitrary(ctx: Ctx): fc.Arbitrary<Frame> {
  const id = fc.oneof(
    { weight: 9, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>('', 'x'.repeat(64), 'y'.repeat(65), 7, null, {}, undefined) },
  )
  const wellFormed = fc
    .tuple(fc.constantFrom(...templates(ctx)), id)
    .map(([frame, rid]) => (rid === undefined ? frame : { ...frame, id: rid }))
  const mutated = fc
    .tuple(wellFormed, fc.array(mutationArbitrary(ctx), { minLength: 1, maxLength: 3 }))
    .map(([frame, mutations]) => mutate(frame, mutations))
  const knownTypeJunk = fc
    .tuple(fc.constantFrom(...KNOWN_TYPES), id, fc.dictionary(fc.string({ maxLength: 8 }), junk, { maxKeys: 4 }))
    .map(([type, rid, rest]) => ({ ...rest, type, id: rid }))
  const unknownType = fc
    .tuple(fc.oneof(fc.string({ maxLength: 12 }), junk), id)
    .map(([type, rid]) => ({ type, id: rid, callId: ctx.callId }))
  const object = fc.oneof(
    { weight: 5, arbitrary: mutated },
    { weight: 3, arbitrary: wellFormed },
    { weight: 1, arbitrary: knownTypeJunk },
    { weight: 1, arbitrary: unknownType },
  )
  const text = fc.oneof(
    { weight: 12, arbitrary: object.map((value) => JSON.stringify(value)) },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
    { weight: 1, arbitrary: fc.oneof(fc.array(junk), fc.string(), fc.double(), fc.boolean()).map(stringify) },
    {
      weight: 1,
      arbitrary: fc.tuple(wellFormed, fc.nat()).map(([v, n]) => JSON.stringify(v).slice(0, n % 40)),
    },
    { weight: 1, arbitrary: fc.constantFrom('', ' ', 'null', '[]', '{}', '"ping"', '{"type":"ping"', 'NaN', '\u0000') },
  )
  const binary = fc.oneof(
    fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
    wellFormed.map((v) => Buffer.from(JSON.stringify(v))),
  )
  return fc.record({
    who: fc.constantFrom<Who>('mallory', 'stranger'),
    data: fc.oneof({ weight: 20, arbitrary: text }, { weight: 1, arbitrary: binary }),
  })
}

function stringify(value: unknown): string {
  return JSON.stringify(value) ?? 'null'
}

/** Frames no random generator makes: sizes around and far past the limit, and deep nesting. */
function extraFrames(ctx: Ctx): Frame[] {
  const signalOfBytes = (id: string, bytes: number) => {
    const bare = JSON.stringify({ type: 'signal', id, callId: ctx.callId, data: '' })
    return JSON.stringify({ type: 'signal', id, callId: ctx.callId, data: 'x'.repeat(bytes - bare.length) })
  }
  const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth)
  const frames: Frame[] = []
  for (const who of ['mallory', 'stranger'] as const) {
    const at = (n: number) => `${who}-extra-${n}`
    frames.push(
      { who, data: signalOfBytes(at(0), MAX_FRAME_BYTES) },
      { who, data: signalOfBytes(at(1), MAX_FRAME_BYTES + 1) },
      { who, data: JSON.stringify({ type: 'signal', id: at(2), callId: ctx.callId, data: '€'.repeat(22_000) }) },
      { who, data: `{"type":"signal","id":"${at(3)}","callId":"${ctx.callId}","data":${nested(5000)}}` },
      { who, data: `{"type":${nested(5000)},"id":"${at(4)}"}` },
      {
        who,
        data: `{"type":"call","id":"${at(5)}","to":["${ALICE}"],"callType":"audio","attachment":{"a":${nested(5000)}}}`,
      },
      // Depth counts the frame itself: these two are nested exactly as deep as allowed, and one more.
      { who, data: `{"type":"signal","id":"${at(6)}","callId":"${ctx.callId}","data":${nested(MAX_FRAME_DEPTH - 1)}}` },
      { who, data: `{"type":"signal","id":"${at(7)}","callId":"${ctx.callId}","data":${nested(MAX_FRAME_DEPTH)}}` },
      {
        who,
        data: `{"type":"call","id":"${at(8)}","to":["${BOB}"],"callType":"audio","attachment":{"a":${nested(MAX_FRAME_DEPTH - 2)}}}`,
      },
      { who, data: nested(20_000) },
    )
    for (const [n, bytes] of [MAX_FRAME_BYTES + 1, 100_000, 256_000, 512_000, 1_000_000].entries()) {
      frames.push(
        { who, data: signalOfBytes(at(10 + n), bytes) },
        { who, data: Buffer.alloc(bytes, n) },
        { who, data: '{'.repeat(bytes) },
      )
    }
  }
  return frames
}

/**
 * The generated frames and the extras, spread among them. A request id is an idempotency key, and a
 * repeated one is not answered again (README), so each frame's id, where it has a valid one, is unique.
 */
export function allFrames(ctx: Ctx, count: number, seed: number): Frame[] {
  const generated = fc.sample(frameArbitrary(ctx), { numRuns: count, seed }).map((frame, n) => {
    if (typeof frame.data !== 'string') return frame
    const json = parseJson(frame.data)
    if (!isPlainObject(json)) return frame
    // Logging out would end Mallory's session: that is for the stranger to try.
    const logout = clientMessageSchema.safeParse(json).data?.type === 'logout'
    const who = logout ? 'stranger' : frame.who
    const id = validId(json.id)
    if (id === null) return { who, data: frame.data }
    return { who, data: JSON.stringify({ ...json, id: `${n}~${id}`.slice(0, 64) }) }
  })
  const extras = extraFrames(ctx)
  const step = Math.floor(generated.length / extras.length)
  const frames = generated.flatMap((frame, n) => (n % step === 0 && extras.length ? [frame, extras.pop()!] : [frame]))
  return [...frames, ...extras]
}

/** A frame, short enough for a failure message. */
export function describeFrame(frame: Frame): string {
  const kind = typeof frame.data === 'string' ? 'text' : 'binary'
  return `${frame.who} ${kind} ${frame.data.length} ${JSON.stringify(String(frame.data).slice(0, 120))}`
}
