import WebSocket from 'ws'
import { tokenFor, type ServerTarget } from './support.ts'

export interface Frame {
  type: string
  id?: string | null
  name?: string
  result?: Record<string, unknown>
  error?: { code: string; message: string }
  data?: Record<string, unknown>
}

/** A WebSocket speaking the protocol by hand, for what the SDK hides: replies, close codes, upgrades. */
export class RawSocket {
  readonly ws: WebSocket
  readonly frames: Frame[] = []
  /** Resolves with the close code when the server closes the socket. */
  readonly closed: Promise<number>
  /** The close code once the server closed the socket, undefined while it is open. */
  closeCode: number | undefined
  #nextId = 1
  readonly #waiters = new Set<() => void>()

  private constructor(ws: WebSocket) {
    this.ws = ws
    ws.on('message', (data) => {
      this.frames.push(JSON.parse(String(data)) as Frame)
      for (const wake of this.#waiters) wake()
    })
    this.closed = new Promise((resolve) =>
      ws.once('close', (code) => {
        this.closeCode = code
        for (const wake of this.#waiters) wake()
        resolve(code)
      }),
    )
  }

  get open(): boolean {
    return this.closeCode === undefined
  }

  /** The names of the events that came, in order. */
  get events(): string[] {
    return this.frames.flatMap((f) => (f.type === 'event' && f.name ? [f.name] : []))
  }

  /** Sends exactly this frame. */
  send(frame: object): void {
    this.ws.send(JSON.stringify(frame))
  }

  /** The reply or error to request `id`, or undefined when the socket closed first or `timeoutMs` passed. */
  async answer(id: string, timeoutMs = 5000): Promise<Frame | undefined> {
    const isAnswer = (f: Frame) => f.id === id && (f.type === 'reply' || f.type === 'error')
    await this.#until(() => this.frames.some(isAnswer) || !this.open, timeoutMs)
    return this.frames.find(isAnswer)
  }

  /** Opens a socket to the signaling endpoint; rejects with the HTTP answer if the upgrade is refused. */
  static async open(server: ServerTarget, headers: Record<string, string> = {}): Promise<RawSocket> {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/v1/signal`, { headers })
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
      ws.once('unexpected-response', (_request, response) => {
        let body = ''
        response.on('data', (chunk: Buffer) => (body += chunk.toString()))
        response.on('end', () => reject(new UpgradeRefused(response.statusCode ?? 0, body)))
      })
    })
    return new RawSocket(ws)
  }

  /** A socket logged in as `accid` with a fresh token. */
  static async login(server: ServerTarget, accid: string, deviceId = `${accid}-raw`): Promise<RawSocket> {
    const socket = await RawSocket.open(server)
    const token = await tokenFor(server, accid)
    const answer = await socket.request('login', { appKey: server.app.appKey, accid, token, deviceId })
    if (answer.type !== 'reply') throw new Error(`login: ${JSON.stringify(answer.error)}`)
    return socket
  }

  /** Sends a request and resolves with its reply or error frame. */
  async request(type: string, body: Record<string, unknown> = {}): Promise<Frame> {
    const id = `r${this.#nextId++}`
    this.ws.send(JSON.stringify({ type, id, ...body }))
    return this.next((f) => f.id === id && (f.type === 'reply' || f.type === 'error'))
  }

  /** The first frame so far or to come that matches. */
  async next(match: (frame: Frame) => boolean, timeoutMs = 5000): Promise<Frame> {
    await this.#until(() => this.frames.some(match), timeoutMs)
    const hit = this.frames.find(match)
    if (!hit) throw new Error(`no such frame within ${timeoutMs} ms; saw ${JSON.stringify(this.frames)}`)
    return hit
  }

  /** Waits until `done()` holds or the time is up; woken by every frame and by the close. */
  async #until(done: () => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (!done() && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer)
          this.#waiters.delete(wake)
          resolve()
        }
        const timer = setTimeout(wake, deadline - Date.now())
        this.#waiters.add(wake)
      })
    }
  }

  /** The first event of this name that matches. */
  event(name: string, match: (data: Record<string, unknown>) => boolean = () => true): Promise<Frame> {
    return this.next((f) => f.type === 'event' && f.name === name && match(f.data ?? {}))
  }

  close(): void {
    this.ws.terminate()
  }
}

export class UpgradeRefused extends Error {
  readonly status: number
  readonly body: string

  constructor(status: number, body: string) {
    super(`upgrade refused with ${status}: ${body}`)
    this.status = status
    this.body = body
  }
}
