import {
  RingKitError,
  MAX_HELD_CALLS,
  isErrorCode,
  type ClientMessage,
  type ClientMessageType,
  type ErrorBody,
  type LoginResult,
  type ReplyResults,
} from '@ringkit/protocol'
import type { ServerList } from './ServerList.ts'
import type { WebSocketConstructor, WebSocketLike } from './types.ts'

const OPEN = 1
/** Close codes the server uses when it ends a session on purpose: do not reconnect. */
const FINAL_CLOSE_CODES = new Set([4001, 4002, 4003])
/**
 * The server closed a socket it could not write to fast enough. The session may still resume; if
 * it kept too much to, the resume says so and what waited fails with CONNECTION_LOST.
 */
const CLOSE_SLOW_READER = 4008
/** The server is draining (shutting down) and asks its devices to move: reconnect at once, elsewhere. */
const CLOSE_MOVE = 4012
/** Failures another server (or the same one, a moment later) may not have: try the next one. */
const MOVE_ON_CODES: ReadonlySet<string> = new Set(['NOT_CONNECTED', 'REQUEST_TIMEOUT', 'SERVER_DRAINING'])
/** Acknowledge every this many frames or characters, whichever comes first: the server keeps both bounded. */
const ACK_EVERY = 64
const ACK_EVERY_CHARS = 256 * 1024

type RequestBody<T extends ClientMessageType> = Omit<Extract<ClientMessage, { type: T }>, 'type' | 'id'>

interface Pending {
  type: ClientMessageType
  frame: string
  resolve: (result: never) => void
  reject: (error: RingKitError) => void
  timer: ReturnType<typeof setTimeout>
}

export interface ConnectionHandlers {
  event(name: string, data: unknown): void
  /** The socket dropped; the connection is trying to resume. */
  dropped(reason: string): void
  /** Back after a drop; `resumed` false means the server had to start a new session. */
  restored(resumed: boolean): void
  /** The server ended the session, or resuming became impossible. */
  closed(error: RingKitError): void
  /** An error reply to no request (e.g. a frame the server could not read). */
  stray(error: RingKitError): void
  loginFrame(): Promise<RequestBody<'login'>>
  /** The calls the device holds, named in a resume: one that ended out of its sight is ended for it. */
  heldCalls(): string[]
}

/**
 * The signaling socket: requests with ids and timed replies, numbered frames so that nothing is
 * handled twice, and resuming the server session after a drop with every missed frame replayed.
 */
export class Connection {
  readonly #servers: ServerList
  readonly #WebSocket: WebSocketConstructor
  readonly #timeoutMs: number
  readonly #h: ConnectionHandlers
  #socket: WebSocketLike | undefined
  #pending = new Map<string, Pending>()
  #nextId = 1
  #lastSeq = 0
  #unacked = 0
  #unackedChars = 0
  #session: LoginResult | undefined
  #loginId: string | undefined
  #state: 'idle' | 'online' | 'resuming' | 'closed' = 'idle'
  #heartbeat: ReturnType<typeof setInterval> | undefined
  #lastHeard = 0
  #retry: ReturnType<typeof setTimeout> | undefined
  #attempt = 0

  constructor(
    servers: ServerList,
    WebSocketImpl: WebSocketConstructor,
    timeoutMs: number,
    handlers: ConnectionHandlers,
  ) {
    this.#servers = servers
    this.#WebSocket = WebSocketImpl
    this.#timeoutMs = timeoutMs
    this.#h = handlers
  }

  get online(): boolean {
    return this.#state === 'online'
  }

  get session(): LoginResult | undefined {
    return this.#session
  }

  /**
   * Opens the socket and logs in, trying each server of the list in turn while one cannot be
   * reached or is draining; rejects with the last one's error code.
   */
  async open(): Promise<LoginResult> {
    this.#state = 'idle'
    for (let attempt = 0; ; attempt++) {
      let socket: WebSocketLike | undefined
      try {
        socket = await this.#connect()
        const result = await this.#login(socket, undefined)
        this.#state = 'online'
        this.#startHeartbeat(result.heartbeatMs)
        return result
      } catch (error) {
        if (socket) this.#dispose(socket)
        if (this.#socket === socket) this.#socket = undefined
        if (this.#state === 'idle' && attempt + 1 < this.#servers.size && movesOn(error)) {
          this.#servers.next()
          await new Promise((resolve) => setTimeout(resolve, backoffMs(attempt)))
          if (this.#state === 'idle') continue
        }
        this.#state = 'closed'
        throw error
      }
    }
  }

  /**
   * Sends a request and resolves with its result. `onResult` runs synchronously as the reply is read,
   * before any later frame: state the reply creates is in place before events about it arrive.
   */
  request<T extends ClientMessageType, R = ReplyResults[T]>(
    type: T,
    body: RequestBody<T>,
    onResult?: (result: ReplyResults[T]) => R,
  ): Promise<R> {
    if (this.#state === 'idle' || this.#state === 'closed') {
      return Promise.reject(new RingKitError('NOT_CONNECTED', 'log in first'))
    }
    const id = String(this.#nextId++)
    const frame = JSON.stringify({ ...body, type, id })
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new RingKitError('REQUEST_TIMEOUT', `no reply to ${type} in ${this.#timeoutMs} ms`))
      }, this.#timeoutMs)
      const settle = onResult ? (result: ReplyResults[T]) => resolve(onResult(result)) : resolve
      this.#pending.set(id, { type, frame, resolve: settle as (r: never) => void, reject, timer })
      // While resuming, the request waits and is sent once the session is back.
      if (this.#state === 'online') this.#send(frame)
    })
  }

  /** Ends the connection for good, failing what still waits; `code` is the socket's close code. */
  close(error = new RingKitError('NOT_CONNECTED', 'logged out'), code?: number): void {
    if (this.#state === 'closed') return
    this.#state = 'closed'
    clearInterval(this.#heartbeat)
    clearTimeout(this.#retry)
    if (this.#socket) this.#dispose(this.#socket, code)
    this.#failPending(error)
  }

  /** Drops the socket as a network fault would; for tests and for "network changed" hints. */
  simulateDrop(): void {
    if (this.#socket) this.#onSocketGone(this.#socket, 'dropped')
  }

  #connect(): Promise<WebSocketLike> {
    return new Promise((resolve, reject) => {
      const url = this.#servers.signalUrl
      let socket: WebSocketLike
      try {
        socket = new this.#WebSocket(url)
      } catch (error) {
        reject(new RingKitError('NOT_CONNECTED', `cannot open ${url}`, { cause: error }))
        return
      }
      const timer = setTimeout(() => {
        socket.onopen = socket.onclose = socket.onerror = null
        socket.close()
        reject(new RingKitError('NOT_CONNECTED', `no connection to ${url}`))
      }, this.#timeoutMs)
      socket.onopen = () => {
        clearTimeout(timer)
        this.#attach(socket)
        resolve(socket)
      }
      socket.onerror = () => {}
      socket.onclose = () => {
        clearTimeout(timer)
        reject(new RingKitError('NOT_CONNECTED', `could not connect to ${url}`))
      }
    })
  }

  #attach(socket: WebSocketLike): void {
    this.#socket = socket
    this.#lastHeard = Date.now()
    socket.onmessage = (event) => {
      this.#lastHeard = Date.now()
      this.#onFrame(String(event.data))
    }
    socket.onclose = (event) => this.#onSocketGone(socket, `closed (${event.code})`, event.code)
    socket.onerror = () => {}
  }

  async #login(
    socket: WebSocketLike,
    resume: { sessionId: string; lastSeq: number; calls?: string[] } | undefined,
  ): Promise<LoginResult> {
    const body = await this.#h.loginFrame()
    const id = `login-${this.#nextId++}`
    this.#loginId = id
    return new Promise<LoginResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new RingKitError('REQUEST_TIMEOUT', 'no reply to login'))
      }, this.#timeoutMs)
      this.#pending.set(id, {
        type: 'login',
        frame: '',
        resolve: ((result: LoginResult) => {
          this.#session = result
          resolve(result)
        }) as (r: never) => void,
        reject,
        timer,
      })
      socket.send(JSON.stringify({ ...body, ...(resume ? { resume } : {}), type: 'login', id }))
    })
  }

  #onFrame(text: string): void {
    let frame: {
      type?: string
      id?: string | null
      seq?: number
      result?: unknown
      error?: ErrorBody
      name?: string
      data?: unknown
    }
    try {
      frame = JSON.parse(text)
    } catch {
      return
    }
    const seq = frame.seq ?? 0
    const isLoginReply = frame.id != null && frame.id === this.#loginId
    if (seq > 0) {
      if (isLoginReply) {
        const resumed = frame.type === 'reply' && (frame.result as LoginResult).resumed
        this.#lastSeq = resumed ? Math.max(this.#lastSeq, seq) : seq
      } else {
        if (seq <= this.#lastSeq) return
        this.#lastSeq = seq
      }
      this.#unackedChars += text.length
      if (++this.#unacked >= ACK_EVERY || this.#unackedChars >= ACK_EVERY_CHARS) this.#ack()
    }
    if (frame.type === 'event' && typeof frame.name === 'string') {
      this.#h.event(frame.name, frame.data)
      return
    }
    const pending = frame.id == null ? undefined : this.#pending.get(frame.id)
    if (frame.type === 'error') {
      const body = frame.error
      const error = new RingKitError(isErrorCode(body?.code) ? body.code : 'INTERNAL', body?.message ?? 'unknown error')
      if (!pending) return this.#h.stray(error)
      this.#settle(frame.id!, pending)
      pending.reject(error)
      return
    }
    if (frame.type === 'reply' && pending) {
      this.#settle(frame.id!, pending)
      pending.resolve(frame.result as never)
    }
  }

  #settle(id: string, pending: Pending): void {
    clearTimeout(pending.timer)
    this.#pending.delete(id)
  }

  #ack(): void {
    this.#unacked = 0
    this.#unackedChars = 0
    const socket = this.#socket
    if (socket && socket.readyState === OPEN) {
      socket.send(JSON.stringify({ type: 'ping', id: `ack-${this.#nextId++}`, ack: this.#lastSeq }))
    }
  }

  #startHeartbeat(intervalMs: number): void {
    clearInterval(this.#heartbeat)
    this.#heartbeat = setInterval(() => {
      const socket = this.#socket
      if (!socket || this.#state !== 'online') return
      // Two and a half beats of silence: the link is dead even if the socket has not noticed.
      if (Date.now() - this.#lastHeard > intervalMs * 2.5) return this.#onSocketGone(socket, 'heartbeat lost')
      this.#ack()
    }, intervalMs)
    const timer = this.#heartbeat as { unref?: () => void }
    timer.unref?.()
  }

  #onSocketGone(socket: WebSocketLike, reason: string, code?: number): void {
    if (socket !== this.#socket) return
    this.#dispose(socket)
    this.#socket = undefined
    if (this.#state !== 'online') return this.#failLogin()
    if (code !== undefined && FINAL_CLOSE_CODES.has(code)) {
      // The server ended the session and said why in the event before closing.
      this.close(new RingKitError('KICKED_OFFLINE'))
      return
    }
    this.#state = 'resuming'
    // The server just lost may be gone: the next one of the list is tried first.
    this.#servers.next()
    // A device too slow for what it is sent keeps backing off rather than coming straight back.
    if (code === CLOSE_SLOW_READER) this.#h.dropped('the server closed a socket that read too slowly')
    else {
      this.#attempt = 0
      this.#h.dropped(code === CLOSE_MOVE ? 'the server is shutting down: moving to another' : reason)
    }
    // A draining server let go of this device on purpose: no reason to wait before moving.
    if (code === CLOSE_MOVE) this.#retry = setTimeout(() => void this.#resume(), 0)
    else this.#scheduleResume()
  }

  /** A socket that closes while its login waits: no reply can come, so the next server is tried now. */
  #failLogin(): void {
    const id = this.#loginId
    const login = id === undefined ? undefined : this.#pending.get(id)
    if (!id || !login) return
    this.#settle(id, login)
    login.reject(new RingKitError('NOT_CONNECTED', 'the connection closed before the login was answered'))
  }

  #scheduleResume(): void {
    this.#retry = setTimeout(() => void this.#resume(), backoffMs(this.#attempt++))
  }

  async #resume(): Promise<void> {
    if (this.#state !== 'resuming') return
    let socket: WebSocketLike | undefined
    try {
      socket = await this.#connect()
      const previous = this.#session
      const held = this.#h.heldCalls().slice(0, MAX_HELD_CALLS)
      const resume = previous && {
        sessionId: previous.sessionId,
        lastSeq: this.#lastSeq,
        ...(held.length > 0 ? { calls: held } : {}),
      }
      const result = await this.#login(socket, resume)
      if (this.#state !== 'resuming') return
      this.#state = 'online'
      this.#startHeartbeat(result.heartbeatMs)
      if (!result.resumed) this.#failPending(new RingKitError('CONNECTION_LOST'))
      else for (const pending of this.#pending.values()) if (pending.frame) this.#send(pending.frame)
      this.#h.restored(result.resumed)
    } catch (error) {
      if (socket) this.#dispose(socket)
      if (this.#socket === socket) this.#socket = undefined
      if (this.#state !== 'resuming') return
      if (!(error instanceof RingKitError) || movesOn(error)) {
        this.#servers.next()
        return this.#scheduleResume()
      }
      // The token or account is no longer good: give up and tell the user.
      this.close(error as RingKitError)
      this.#h.closed(error as RingKitError)
    }
  }

  #send(frame: string): void {
    const socket = this.#socket
    if (socket && socket.readyState === OPEN) socket.send(frame)
  }

  #failPending(error: RingKitError): void {
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer)
      this.#pending.delete(id)
      pending.reject(error)
    }
  }

  #dispose(socket: WebSocketLike, code?: number): void {
    socket.onopen = socket.onmessage = socket.onerror = socket.onclose = null
    try {
      if (code === undefined) socket.close()
      else socket.close(code)
    } catch {
      // already closed
    }
  }
}

/** 100 ms, doubling up to 5 s: between attempts to connect, whichever server they go to. */
function backoffMs(attempt: number): number {
  return Math.min(5000, 100 * 2 ** attempt)
}

function movesOn(error: unknown): boolean {
  return error instanceof RingKitError && MOVE_ON_CODES.has(error.code)
}
