import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import WebSocket from 'ws'
import { RingKit, type Call, type RingKitEvents, type WebSocketConstructor } from '@ringkit/client'
import { isErrorCode, serverFrameSchema } from '@ringkit/protocol'
import { startTestServer, tokenFor, type TestServer } from './support.ts'
import {
  ALICE,
  allFrames,
  BOB,
  describeFrame,
  expected,
  isPlainObject,
  MALLORY,
  OFFLINE,
  parseJson,
  type Ctx,
  type Frame,
  type Outcome,
  type Who,
} from './frame-fuzz.ts'
import { seedsBeside } from './seeds.ts'

/** The seed of the run under way: every assertion message names it. */
let SEED = 0
const GENERATED = 10_000
/** A server frame as read off a socket, checked against the protocol. */
type ServerFrame = ReturnType<typeof serverFrameSchema.parse>

/** A server per seed, so that what one run's calls leave ringing cannot reach the next. */
let server: TestServer
/** Everything a run opened, closed after it whether it passed or not. */
const cleanup: (() => Promise<unknown> | void)[] = []

async function startRun(): Promise<void> {
  // Many calls get past the rate limit to the engine, and the rest meet it however fast this
  // machine sends them: a burst of 100, then two a second.
  // The strangers never log in: a login deadline longer than any run keeps them listening.
  // More requests per device than by default, so that many get past those rate limits too.
  const plenty = { perSecond: 1000, burst: 1000 }
  server = await startTestServer({
    limits: {
      invites: { perSecond: 2, burst: 100 },
      loginDeadlineMs: 600_000,
      history: plenty,
      signal: plenty,
      sfu: plenty,
    },
  })
}

async function endRun(): Promise<void> {
  await Promise.all(cleanup.splice(0).map((close) => Promise.resolve(close()).catch(() => {})))
  await server.close()
}

function readFrame(data: WebSocket.RawData, malformed: string[]): ServerFrame | undefined {
  const parsed = serverFrameSchema.safeParse(parseJson(String(data)))
  if (!parsed.success) malformed.push(String(data).slice(0, 200))
  return parsed.data
}

/** A raw connection that files every answer by request id, and the id-less ones in arrival order. */
interface Raw {
  socket: WebSocket
  byId: Map<string, ServerFrame[]>
  anonymous: ServerFrame[]
  events: Extract<ServerFrame, { type: 'event' }>[]
  malformed: string[]
  closed: boolean
  answers: number
}

async function rawConnection(): Promise<Raw> {
  const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/signal`)
  cleanup.push(() => socket.terminate())
  await new Promise((resolve, reject) => {
    socket.once('open', resolve)
    socket.once('error', reject)
  })
  const raw: Raw = { socket, byId: new Map(), anonymous: [], events: [], malformed: [], closed: false, answers: 0 }
  socket.on('message', (data) => {
    const frame = readFrame(data, raw.malformed)
    if (frame?.type === 'event') raw.events.push(frame)
    if (!frame || frame.type === 'event') return
    raw.answers++
    if (frame.id === null) raw.anonymous.push(frame)
    else raw.byId.set(frame.id, [...(raw.byId.get(frame.id) ?? []), frame])
  })
  socket.on('close', () => (raw.closed = true))
  return raw
}

/** Mallory: a third account, logged in with a valid token on a raw connection. */
async function loggedIn(appKey: string): Promise<Raw> {
  const raw = await rawConnection()
  const token = await tokenFor(server, MALLORY)
  raw.socket.send(JSON.stringify({ type: 'login', id: 'login', appKey, accid: MALLORY, token, deviceId: 'raw' }))
  await until('mallory is logged in', () => raw.answers === 1)
  assert.equal(raw.byId.get('login')?.[0]?.type, 'reply', 'mallory logged in')
  raw.byId.delete('login')
  raw.answers = 0
  return raw
}

/** An SDK device whose socket is tapped: `wire` holds every frame the server sent it. */
interface Device {
  kit: RingKit
  accid: string
  deviceId: string
  wire: ServerFrame[]
  malformed: string[]
  events: { name: string; payload: unknown }[]
}

async function device(accid: string, deviceId: string): Promise<Device> {
  const wire: ServerFrame[] = []
  const malformed: string[] = []
  class TappedWebSocket extends WebSocket {
    constructor(url: string) {
      super(url)
      this.on('message', (data) => {
        const frame = readFrame(data, malformed)
        if (frame) wire.push(frame)
      })
    }
  }
  const kit = new RingKit({
    server: server.url,
    appKey: server.app.appKey,
    deviceId,
    media: false,
    WebSocket: TappedWebSocket as unknown as WebSocketConstructor,
    requestTimeoutMs: 10_000,
  })
  const events: Device['events'] = []
  for (const name of Object.values(kit.EVENT)) kit.on(name, (payload) => events.push({ name, payload }))
  cleanup.push(() => kit.logout())
  await kit.login({ accid, token: await tokenFor(server, accid) })
  return { kit, accid, deviceId, wire, malformed, events }
}

/** Alice calls Bob and he answers: the call the fuzz must leave alone. */
async function liveCall() {
  const alice = await device(ALICE, 'alice-phone')
  const bob = await device(BOB, 'bob-phone')
  await tokenFor(server, OFFLINE) // an account with no device online
  const call = await alice.kit.call({ to: BOB, type: 'video' })
  await until('bob rings', () => heard(bob, 'invited').length === 1)
  const answer = (heard(bob, 'invited')[0]!.payload as RingKitEvents['invited']).call
  await answer.accept()
  await until('alice hears the answer', () => heard(alice, 'userAccept').length === 1)
  assert.equal(call.status, 'connected')
  const ctx: Ctx = {
    callId: call.callId,
    appKey: server.app.appKey,
    alice: { accid: ALICE, deviceId: alice.deviceId },
    bob: { accid: BOB, deviceId: bob.deviceId },
  }
  return { alice, bob, call, answer, ctx }
}

/** Resolves whether `ready()` came true within `ms`. */
async function settle(ready: () => boolean, ms = 15_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!ready() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5))
  return ready()
}

async function until(what: string, ready: () => boolean): Promise<void> {
  if (!(await settle(ready))) throw new Error(`timed out waiting for ${what} (seed ${SEED})`)
}

const heard = (d: Device, name: string) => d.events.filter((e) => e.name === name)

/**
 * A ping and its answer on `raw`, then forgotten: whatever the server had to say about the frames
 * before it has been said.
 */
async function roundTrip(raw: Raw): Promise<void> {
  const id = `round-trip-${SEED}`
  raw.socket.send(JSON.stringify({ type: 'ping', id }))
  await until(`the answer to ${id}`, () => raw.byId.has(id))
  raw.answers -= raw.byId.get(id)!.length
  raw.byId.delete(id)
}

/**
 * Sends the frames in slices, each on its connection, waiting for the answers to catch up after
 * each. Halfway, the live call is used, and must still work. Returns what was sent on each.
 */
async function sendAll(frames: Frame[], raws: Record<Who, Raw>, call: Call, answer: Call) {
  const sent: Record<Who, Frame[]> = { mallory: [], stranger: [] }
  let liveness: Promise<unknown> | undefined
  for (let i = 0; i < frames.length; i += 400) {
    for (const frame of frames.slice(i, i + 400)) {
      raws[frame.who].socket.send(frame.data)
      sent[frame.who].push(frame)
    }
    if (!liveness && i >= frames.length / 2) {
      liveness = call
        .switchType('audio')
        .then(() => answer.enableLocalAudio(false))
        .catch((error: unknown) => error)
    }
    const caughtUp = () => raws.mallory.answers >= sent.mallory.length && raws.stranger.answers >= sent.stranger.length
    // A frame left unanswered stops the fuzz here; the checks name it.
    if (!(await settle(caughtUp))) break
  }
  assert.equal(await liveness, undefined, 'the call could be used during the fuzz')
  // An answer that should not come, a second one, would come before these.
  for (const raw of Object.values(raws)) if (!raw.closed) await roundTrip(raw)
  return sent
}

/** Each frame sent on `raw` has exactly one answer, and it is one the protocol allows. */
function answerProblems(raw: Raw, sent: Frame[], outcomes: Outcome[]): string[] {
  const problems: string[] = []
  const anonymous = [...raw.anonymous]
  const ids = new Set<string>()
  for (const [n, frame] of sent.entries()) {
    const want = outcomes[n]!
    if (want.id !== null) ids.add(want.id)
    const got = want.id === null ? anonymous.shift() : raw.byId.get(want.id)?.[0]
    const count = want.id === null ? Number(got !== undefined) : (raw.byId.get(want.id)?.length ?? 0)
    const fits =
      got?.type === 'reply'
        ? want.reply
        : got?.type === 'error' && isErrorCode(got.error.code) && want.codes.has(got.error.code)
    if (count !== 1 || !fits) {
      const code = got?.type === 'error' ? got.error.code : (got?.type ?? 'none')
      const wanted = [...want.codes, ...(want.reply ? ['reply'] : [])].join('|')
      problems.push(`${describeFrame(frame)}: ${count} answers, got ${code}, want ${wanted}`)
    }
  }
  if (anonymous.length > 0) problems.push(`${anonymous.length} id-less answers more than frames that earn one`)
  for (const id of raw.byId.keys()) if (!ids.has(id)) problems.push(`an answer to id ${id}, which was never sent`)
  return problems
}

/**
 * What a device of the live call heard while the fuzz ran: on the live call, exactly `live` (what
 * its own switch and mute caused); besides, only the ending and record of Mallory's busy calls.
 */
function wireProblems(d: Device, from: number, ctx: Ctx, live: string[]): string[] {
  const problems: string[] = []
  const heardLive: string[] = []
  for (const frame of d.wire.slice(from)) {
    if (frame.type === 'reply') continue
    if (frame.type === 'error') {
      problems.push(`${d.accid} got error ${frame.error.code}`)
      continue
    }
    const data = frame.data as { callId?: string; status?: number; caller?: string; reason?: string; accid?: string }
    if (data.callId === ctx.callId) {
      heardLive.push(`${frame.name}${data.accid ? `:${data.accid}` : ''}`)
      continue
    }
    const busyRecord = frame.name === 'record' && data.caller === MALLORY && data.status === 5
    const busyEnd = frame.name === 'callEnd' && data.reason === 'busy'
    if (!busyRecord && !busyEnd) problems.push(`${d.accid} heard ${frame.name} ${JSON.stringify(data).slice(0, 200)}`)
  }
  if (heardLive.join() !== live.join()) problems.push(`${d.accid} heard ${heardLive.join()} on the call, not ${live}`)
  return problems
}

/** The fuzz reached every kind of refusal, and success too; Mallory's calls each ended as busy with one record. */
function assertCoverage(mallory: Raw, stranger: Raw): void {
  const answers = [mallory, stranger].flatMap((r) => [...r.anonymous, ...[...r.byId.values()].flat()])
  const codes = new Set(answers.map((f) => (f.type === 'error' ? f.error.code : f.type)))
  for (const code of [
    ...['BAD_FRAME', 'FRAME_TOO_LARGE', 'UNKNOWN_TYPE', 'INVALID_PARAMS', 'NOT_IN_CALL', 'CALL_NOT_FOUND'],
    ...['NOT_LOGGED_IN', 'ALREADY_LOGGED_IN', 'RATE_LIMITED', 'reply'],
  ]) {
    assert.ok(codes.has(code), `the fuzz reached ${code}; saw ${[...codes].join(', ')}`)
  }
  const calls = [...mallory.byId.values()].flat().filter((f) => f.type === 'reply' && isCallResult(f.result))
  const records = mallory.events.filter((e) => e.name === 'record')
  assert.ok(calls.length > 0, 'mallory reached the busy path')
  assert.equal(records.length, calls.length, 'one record per call mallory made')
  assert.ok(records.every((e) => (e.data as { status: number }).status === 5))
}

function isCallResult(result: unknown): boolean {
  return isPlainObject(result) && typeof result.callId === 'string'
}

describe('10,000 random and mutated frames during a live call', () => {
  for (const { seed, title } of seedsBeside(20261122)) {
    it(`each gets exactly its one answer, the server stays up, and the live call ends as it should (${title})`, async (t) => {
      SEED = seed
      await startRun()
      t.after(endRun)
      await fuzzRun()
    })
  }
})

/** One seed's fuzz: the frames go out on a live call, then every answer and the call are checked. */
async function fuzzRun(): Promise<void> {
  const { alice, bob, call, answer, ctx } = await liveCall()
  const mallory = await loggedIn(ctx.appKey)
  const stranger = await rawConnection()
  const wireFrom = { alice: alice.wire.length, bob: bob.wire.length }

  const frames = allFrames(ctx, GENERATED, SEED)
  assert.ok(frames.length >= 10_000)
  const sent = await sendAll(frames, { mallory, stranger }, call, answer)
  const outcomes = (who: Who) => sent[who].map((frame) => expected(frame, ctx))
  const problems = [
    ...answerProblems(mallory, sent.mallory, outcomes('mallory')),
    ...answerProblems(stranger, sent.stranger, outcomes('stranger')),
    ...wireProblems(alice, wireFrom.alice, ctx, ['callTypeChange', `audioAvailable:${BOB}`]),
    ...wireProblems(bob, wireFrom.bob, ctx, ['callTypeChange']),
    ...[mallory, stranger, alice, bob].flatMap((c) => c.malformed.map((m) => `malformed server frame ${m}`)),
  ]
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} problems (seed ${SEED})`)
  assert.equal(sent.mallory.length + sent.stranger.length, frames.length, `all were sent (seed ${SEED})`)
  assert.equal(mallory.closed || stranger.closed, false, 'no socket was dropped')
  assertCoverage(mallory, stranger)
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200)

  assert.equal(call.status, 'connected')
  assert.equal(call.type, 'audio', 'the switch made during the fuzz went through')
  await call.hangup()
  const ours = (d: Device) => heard(d, 'record').filter((e) => (e.payload as { callId: string }).callId === call.callId)
  await until('both records', () => ours(alice).length > 0 && ours(bob).length > 0)
  // A second record or callEnd would come before the answer to a request sent after the first.
  await Promise.all([alice, bob].map(async (d) => d.kit.getCallHistory({ limit: 1 })))
  for (const d of [alice, bob]) {
    const statuses = ours(d).map((e) => (e.payload as { status: number }).status)
    assert.deepEqual(statuses, [1], `${d.accid}: one record, completed`)
    assert.equal(heard(d, 'callEnd').length, 1, `${d.accid}: one callEnd`)
  }
  assert.equal((await server.rest('GET', `/v1/calls/${call.callId}`)).body.status, 1)
}
