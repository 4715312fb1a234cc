import Janode, { type JanodeConnection } from 'janode'
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
 * opened again on the next use after a loss, so a restarted Janus takes rooms again.
 */
export class JanusLink {
  readonly url: string
  /** The rooms this server created on this Janus and has not destroyed. */
  readonly rooms = new Map<number, SfuRoom>()
  /** When a request to this Janus last failed (ms since epoch), 0 if never. */
  failedAt = 0
  readonly #options: JanusLinkOptions
  #connection: JanodeConnection | undefined
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

  async createRoom(params: VideoRoomCreateParams & { secret: string; pin: string }): Promise<SfuRoom> {
    this.#creating++
    const created = await this.#request(async (handle) => handle.create(params)).finally(() => this.#creating--)
    const room: SfuRoom = { janusUrl: this.url, room: created.room, secret: params.secret, pin: params.pin }
    this.rooms.set(room.room, room)
    return room
  }

  /** Destroys a room this server created here; one Janus already forgot counts as destroyed. */
  async destroyRoom(room: SfuRoom): Promise<void> {
    // Forgotten first: whatever Janus answers, the caller is done with the room.
    this.rooms.delete(room.room)
    try {
      await this.#request(async (handle) => handle.destroy({ room: room.room, secret: room.secret }))
    } catch (error) {
      if (!(error instanceof Error && NO_SUCH_ROOM.test(error.message))) throw error
    }
  }

  /** Runs one VideoRoom request, connecting first if needed, bounded by `timeoutMs` in all. */
  async #request<T>(send: (handle: VideoRoomHandle) => Promise<T>): Promise<T> {
    if (this.#closed) throw new Error(`${this.url}: closed`)
    try {
      return await withTimeout(this.url, this.#options.timeoutMs, async () => send(await this.#videoRoom()))
    } catch (error) {
      this.failedAt = Date.now()
      throw error
    }
  }

  async #videoRoom(): Promise<VideoRoomHandle> {
    if (!this.#handle) {
      const handle = this.#attach()
      // A failed attempt is forgotten so the next request tries again instead of reusing the failure.
      handle.catch(() => {
        if (this.#handle === handle) this.#handle = undefined
      })
      this.#handle = handle
    }
    return this.#handle
  }

  async #attach(): Promise<VideoRoomHandle> {
    const connection = this.#connection ?? (await this.#connect())
    const session = await connection.create()
    // Janus dropped the session (e.g. it timed out): the next request makes a new one on the same
    // connection. Rooms outlive sessions, so nothing is lost.
    session.once(Janode.EVENT.SESSION_DESTROYED, () => (this.#handle = undefined))
    return session.attach(VideoRoomPlugin)
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
    this.#handle = undefined
    await connection?.close().catch(() => undefined)
  }
}

/** `work()` or a rejection after `ms`, so a Janus that accepts but never answers cannot hang a caller. */
async function withTimeout<T>(url: string, ms: number, work: () => Promise<T>): Promise<T> {
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
