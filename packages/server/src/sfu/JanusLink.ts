import Janode, { type JanodeConnection, type JanodeSession } from 'janode'
import VideoRoomPlugin, { type VideoRoomCreateParams, type VideoRoomHandle } from 'janode/plugins/videoroom'
import type { SfuRoom } from './types.ts'

// Failures reach callers as RingKitErrors with the cause attached; janode's own console lines
// would bypass the server's logger and repeat them.
Janode.Logger.setLevel('none')

/** Janus VideoRoom's error code for a room id that does not exist. */
const NO_SUCH_ROOM = /^426\b/

export interface JanusLinkOptions {
  url: string
  apiSecret: string
  timeoutMs: number
  /** The connection closed without `close()`: these rooms are gone with it. */
  onLost: (link: JanusLink, rooms: SfuRoom[]) => void
}

/**
 * One Janus: a WebSocket connection, a session and a VideoRoom handle, opened on first use and
 * opened again on the next use after a loss, so a restarted Janus takes rooms again. Participants'
 * media handles are attached on the same session and die with it.
 */
export class JanusLink {
  readonly url: string
  /** The rooms this server created on this Janus and has not destroyed. */
  readonly rooms = new Map<number, SfuRoom>()
  /** When a request to this Janus last failed (ms since epoch), 0 if never. */
  failedAt = 0
  readonly #options: JanusLinkOptions
  #connection: JanodeConnection | undefined
  #session: Promise<JanodeSession> | undefined
  #handle: Promise<VideoRoomHandle> | undefined
  #closed = false
  /** Rooms being created: counted as load so a burst of createRoom() calls does not all pick one Janus. */
  #creating = 0

  constructor(options: JanusLinkOptions) {
    this.#options = options
    this.url = options.url
  }

  /** Rooms held and being created. */
  get load(): number {
    return this.rooms.size + this.#creating
  }

  /** Rooms being created here now. */
  get creating(): number {
    return this.#creating
  }

  async createRoom(params: VideoRoomCreateParams & { secret: string; pin: string }): Promise<SfuRoom> {
    this.#creating++
    const created = await this.#request(async () => (await this.#videoRoom()).create(params)).finally(
      () => this.#creating--,
    )
    const room: SfuRoom = { janusUrl: this.url, room: created.room, secret: params.secret, pin: params.pin }
    this.rooms.set(room.room, room)
    return room
  }

  /** Destroys a room this server created here; one Janus already forgot counts as destroyed. */
  async destroyRoom(room: SfuRoom): Promise<void> {
    // Forgotten first: whatever Janus answers, the caller is done with the room.
    this.rooms.delete(room.room)
    try {
      await this.#request(async () => (await this.#videoRoom()).destroy({ room: room.room, secret: room.secret }))
    } catch (error) {
      if (!(error instanceof Error && NO_SUCH_ROOM.test(error.message))) throw error
    }
  }

  /**
   * Connects and attaches this server's own VideoRoom handle if not done yet. On a connection
   * already up it asks Janus nothing: a Janus that hangs later is found by the keepalive.
   */
  async ping(): Promise<void> {
    await this.#request(async () => this.#videoRoom())
  }

  /**
   * A new VideoRoom handle for one participant's media, on this Janus's session. The caller
   * detaches it; one that arrives after the timeout is detached here, so none is left behind.
   */
  async attach(): Promise<VideoRoomHandle> {
    let abandoned = false
    let attaching: Promise<VideoRoomHandle> | undefined
    try {
      return await this.#request(async () => {
        const session = await this.#openSession()
        if (abandoned) throw new Error(`${this.url}: attach abandoned`)
        attaching = session.attach(VideoRoomPlugin)
        return attaching
      })
    } catch (error) {
      abandoned = true
      void attaching?.then(async (late) => late.detach()).catch(() => undefined)
      throw error
    }
  }

  /** Runs one request, connecting first if needed, bounded by `timeoutMs` in all. */
  async #request<T>(send: () => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error(`${this.url}: closed`)
    try {
      return await withTimeout(this.url, this.#options.timeoutMs, send)
    } catch (error) {
      this.failedAt = Date.now()
      throw error
    }
  }

  async #videoRoom(): Promise<VideoRoomHandle> {
    this.#handle ??= forgetOnFailure(
      this.#openSession().then(async (session) => session.attach(VideoRoomPlugin)),
      (failed) => this.#handle === failed && (this.#handle = undefined),
    )
    return this.#handle
  }

  async #openSession(): Promise<JanodeSession> {
    if (this.#session) return this.#session
    const opening: Promise<JanodeSession> = (async () => {
      const connection = this.#connection ?? (await this.#connect())
      const session = await connection.create()
      // Janus dropped the session (e.g. it timed out): the next request makes a new one on the same
      // connection. Rooms outlive sessions; participants' handles do not, and report it themselves.
      session.once(Janode.EVENT.SESSION_DESTROYED, () => {
        if (this.#session !== opening) return
        this.#session = undefined
        this.#handle = undefined
      })
      return session
    })()
    this.#session = forgetOnFailure(opening, (failed) => this.#session === failed && (this.#session = undefined))
    return opening
  }

  async #connect(): Promise<JanodeConnection> {
    const connection = await Janode.connect({
      address: { url: this.url, apisecret: this.#options.apiSecret },
      // One attempt: the pool tries another Janus rather than wait for this one.
      max_retries: 0,
      ws_options: { handshakeTimeout: this.#options.timeoutMs },
    })
    if (this.#closed) {
      await connection.close()
      throw new Error(`${this.url}: closed`)
    }
    connection.once(Janode.EVENT.CONNECTION_ERROR, () => this.#lost(connection))
    connection.once(Janode.EVENT.CONNECTION_CLOSED, () => this.#lost(connection))
    this.#connection = connection
    return connection
  }

  #lost(connection: JanodeConnection): void {
    if (this.#connection !== connection) return
    this.#connection = undefined
    this.#session = undefined
    this.#handle = undefined
    if (this.#closed) return
    this.failedAt = Date.now()
    const rooms = [...this.rooms.values()]
    this.rooms.clear()
    this.#options.onLost(this, rooms)
  }

  async close(): Promise<void> {
    this.#closed = true
    const connection = this.#connection
    this.#connection = undefined
    this.#session = undefined
    this.#handle = undefined
    await connection?.close().catch(() => undefined)
  }
}

/** A failed attempt is forgotten so the next use tries again instead of reusing the failure. */
function forgetOnFailure<T>(attempt: Promise<T>, forget: (failed: Promise<T>) => unknown): Promise<T> {
  attempt.catch(() => forget(attempt))
  return attempt
}

/** `work()` or a rejection after `ms`, so a Janus that accepts but never answers cannot hang a caller. */
export async function withTimeout<T>(url: string, ms: number, work: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${url}: no answer within ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([work(), timeout])
  } finally {
    clearTimeout(timer)
  }
}
