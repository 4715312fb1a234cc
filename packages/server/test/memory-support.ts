import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import WebSocket from 'ws'
import { MAX_ATTACHMENT_BYTES, RECORD_STATUS, type CallRecord } from '@ringkit/protocol'
import { signedHeaders, TestDevice, tokenFor, type TestServer } from './support.ts'

/** Request ids unique across devices, so that a frame replayed on resume answers no new request. */
let nextId = 1

/** A server frame as a raw socket reads it. */
export interface Frame {
  type: string
  id?: string | null
  seq?: number
  name?: string
  result?: { callId?: string; resumed?: boolean; sessionId?: string; records?: unknown[] }
  error?: { code: string; message: string }
  data?: { callId?: string; data?: unknown }
}

/**
 * A raw socket logged in as `accid` that never acknowledges anything: what a hostile client, or a
 * broken one, looks like to the server. It files every frame it reads.
 */
export class RawDevice {
  readonly socket: WebSocket
  readonly frames: Frame[] = []
  /** The close code, once the socket closed. */
  closeCode: number | undefined
  sessionId = ''

  private constructor(socket: WebSocket) {
    this.socket = socket
    socket.on('message', (data) => this.frames.push(JSON.parse(String(data)) as Frame))
    socket.once('close', (code) => (this.closeCode = code))
  }

  static async open(server: TestServer): Promise<RawDevice> {
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/v1/signal`, { perMessageDeflate: false })
    await new Promise((resolve, reject) => {
      socket.once('open', resolve)
      socket.once('error', reject)
    })
    return new RawDevice(socket)
  }

  /** Opens a socket and logs in, resuming `resume` when given; resolves with the login answer. */
  static async login(
    server: TestServer,
    accid: string,
    options: { deviceId?: string; resume?: { sessionId: string; lastSeq: number } } = {},
  ): Promise<{ device: RawDevice; answer: Frame }> {
    const device = await RawDevice.open(server)
    const token = await tokenFor(server, accid)
    const { deviceId = 'raw', resume } = options
    const id = device.send({
      type: 'login',
      appKey: server.app.appKey,
      accid,
      token,
      deviceId,
      ...(resume ? { resume } : {}),
    })
    const answer = await device.answer(id)
    assert.equal(answer.type, 'reply', `${accid} logs in: ${JSON.stringify(answer.error)}`)
    device.sessionId = answer.result?.sessionId ?? ''
    return { device, answer }
  }

  /** Sends a request and returns its id. */
  send(frame: Record<string, unknown>): string {
    const id = `r${nextId++}`
    this.socket.send(JSON.stringify({ ...frame, id }))
    return id
  }

  answers(id: string): Frame[] {
    return this.frames.filter((f) => f.id === id && f.type !== 'event')
  }

  async answer(id: string, timeoutMs = 10_000): Promise<Frame> {
    await until(`an answer to ${id}`, () => this.answers(id).length > 0, timeoutMs)
    return this.answers(id)[0]!
  }

  async event(name: string, match: (f: Frame) => boolean = () => true, timeoutMs = 10_000): Promise<Frame> {
    const find = () => this.frames.find((f) => f.type === 'event' && f.name === name && match(f))
    await until(`event ${name}`, () => find() !== undefined, timeoutMs)
    return find()!
  }

  /** Stops reading: the kernel's buffers fill, then the server's. */
  pauseReading(): void {
    ;(this.socket as unknown as { _socket: Socket })._socket.pause()
  }

  resumeReading(): void {
    ;(this.socket as unknown as { _socket: Socket })._socket.resume()
  }
}

export async function until(what: string, ready: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** One sample of the server's /metrics, read as an operator would: `series` is name{labels}. */
export async function metric(server: TestServer, series: string): Promise<number> {
  const res = await fetch(`${server.url}/metrics`, { headers: signedHeaders(server.app) })
  const text = await res.text()
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

/** What the server holds for devices, from /metrics. */
export async function heldBytes(server: TestServer): Promise<{ outbox: number; keptSignals: number }> {
  const [outbox, keptSignals] = await Promise.all([
    metric(server, 'ringkit_held_bytes{what="outbox"}'),
    metric(server, 'ringkit_held_bytes{what="keptSignals"}'),
  ])
  return { outbox, keptSignals }
}

/** An attachment of exactly `MAX_ATTACHMENT_BYTES` of JSON: the largest a caller may send. */
export function largestAttachment(): Record<string, string> {
  return { note: 'x'.repeat(MAX_ATTACHMENT_BYTES - '{"note":""}'.length) }
}

/** Writes `count` records of `accid`'s calls, each as large as a record can be: what a big history page reads. */
export async function seedRecords(server: TestServer, accid: string, count: number): Promise<void> {
  await tokenFor(server, accid)
  const callees = Array.from({ length: 24 }, (_, i) => `callee-${i}`)
  for (let i = 0; i < count; i++) {
    const record: CallRecord = {
      callId: randomUUID(),
      type: 'video',
      caller: accid,
      callees,
      isGroup: true,
      status: RECORD_STATUS.completed,
      endReason: 'hangup',
      startedAt: 1_000_000 + i,
      connectedAt: 1_000_001 + i,
      endedAt: 1_000_002 + i,
      durationSeconds: 1,
      members: [accid, ...callees].map((a) => ({ accid: a, status: 'joined', joinedAt: 1_000_001, leftAt: 1_000_002 })),
      attachment: largestAttachment(),
    }
    await server.store.finishCall(server.app.appKey, record)
  }
}

/**
 * A call between two accounts of their own, connected before an attack and hung up after it:
 * `finish` checks that both sides got the completed record of exactly that call.
 */
export async function bystanderCall(
  server: TestServer,
  tag: string,
): Promise<{ accids: string[]; callId: string; finish(): Promise<void> }> {
  const alice = await TestDevice.online(server, `${tag}-alice-${randomUUID().slice(0, 8)}`)
  const bob = await TestDevice.online(server, `${tag}-bob-${randomUUID().slice(0, 8)}`)
  const call = await alice.kit.call({ to: bob.accid, type: 'video' })
  const ring = await bob.next('invited')
  await ring.call.accept()
  await alice.next('userAccept')
  return {
    accids: [alice.accid, bob.accid],
    callId: call.callId,
    async finish() {
      assert.equal(call.status, 'connected', 'the bystanders are still in their call')
      await call.hangup()
      const ours = (r: CallRecord) => r.callId === call.callId
      const [ra, rb] = await Promise.all([alice.next('record', ours), bob.next('record', ours)])
      for (const record of [ra, rb]) {
        assert.equal(record.status, RECORD_STATUS.completed)
        assert.equal(record.endReason, 'hangup')
      }
      await Promise.all([alice.close(), bob.close()])
    },
  }
}
