import { randomBytes, randomInt } from 'node:crypto'
import { RingKitError } from '@ringkit/protocol'
import type { VideoRoomHandle } from 'janode/plugins/videoroom'
import { assertJanusSecret } from './janus-secret.ts'
import { JanusLink } from './JanusLink.ts'
import type { JanusPoolOptions, SfuRoom } from './types.ts'

/**
 * Room settings for a group call of up to 25 people. Everyone may publish, and each subscriber
 * receives up to 24 streams, so a publisher's video is capped at 256 kbps: 24 × 256 kbps ≈ 6 Mbps
 * down per participant, which a grid of small tiles does not need more than.
 */
const ROOM_SETTINGS = {
  description: 'ringkit group call',
  max_publishers: 25,
  bitrate: 256_000,
  videocodec: 'vp8',
  audiocodec: 'opus',
  // Rooms live as long as their call: never written to the config file, never listed to others.
  permanent: false,
  is_private: true,
} as const

/** Janus room ids are 64-bit, but the ids travel as JSON numbers, so they stay below 2^48. */
const MAX_ROOM_ID = 2 ** 48 - 1

/**
 * Group-call rooms across one or more Janus servers, created and destroyed through janode.
 *
 * A new room goes to the Janus with the fewest rooms (ties: the first listed), not round robin:
 * group calls last minutes to hours and end unevenly, so the room count is the load that is
 * actually there, and a Janus that comes back after a restart takes new rooms first.
 */
export class JanusPool {
  readonly #links: JanusLink[]
  readonly #options: JanusPoolOptions
  #closed = false

  constructor(options: JanusPoolOptions) {
    if (options.urls.length === 0) throw new RingKitError('INVALID_PARAMS', 'JanusPool needs at least one Janus URL')
    assertJanusSecret(options.apiSecret)
    this.#options = options
    const timeoutMs = options.requestTimeoutMs ?? 5_000
    this.#links = options.urls.map(
      (url) => new JanusLink({ url, apiSecret: options.apiSecret, timeoutMs, onLost: (_, rooms) => this.#lost(rooms) }),
    )
  }

  /** The Janus URLs, as given. */
  get urls(): string[] {
    return this.#links.map((link) => link.url)
  }

  /**
   * Creates a room on the least loaded Janus that answers; SFU_UNAVAILABLE when none does. `shared`
   * gives the rooms per Janus that the whole cluster holds, counted instead of this pool's own.
   */
  async createRoom(shared?: ReadonlyMap<string, number>): Promise<SfuRoom> {
    return this.#inTurn('no Janus created the room', shared, async (link) =>
      // Random secrets: whoever holds the pin can join and the secret can destroy the room.
      link.createRoom({
        ...ROOM_SETTINGS,
        room: randomInt(1, MAX_ROOM_ID),
        secret: randomBytes(24).toString('base64url'),
        pin: randomBytes(12).toString('base64url'),
      }),
    )
  }

  /**
   * Takes a room another node made (found in the shared registry) as this pool's own, so that it can
   * attach to it, lose it with its Janus and destroy it. SFU_UNAVAILABLE for a Janus it does not list.
   */
  hold(room: SfuRoom): SfuRoom {
    const link = this.#links.find((candidate) => candidate.url === room.janusUrl)
    if (!link) throw new RingKitError('SFU_UNAVAILABLE', 'The room of this call is on a Janus this node does not list.')
    link.rooms.set(room.room, room)
    return room
  }

  /**
   * Destroys a room made by `createRoom()` or held. A room the pool no longer knows (destroyed already, or
   * lost with its Janus) resolves false; a Janus that does not answer rejects with SFU_UNAVAILABLE.
   */
  async destroyRoom(room: number): Promise<boolean> {
    const link = this.#links.find((candidate) => candidate.rooms.has(room))
    const known = link?.rooms.get(room)
    if (!link || !known) return false
    try {
      await link.destroyRoom(known)
      return true
    } catch (error) {
      throw new RingKitError('SFU_UNAVAILABLE', undefined, { cause: error })
    }
  }

  /** Resolves once some Janus answers (connected, VideoRoom attached), trying them in preference order; SFU_UNAVAILABLE when none does. */
  async available(): Promise<void> {
    await this.#inTurn('no Janus answered', undefined, async (link) => link.ping())
  }

  /**
   * A new VideoRoom handle, for one participant's media, on the Janus that hosts `room`; the caller
   * detaches it. SFU_UNAVAILABLE when that Janus does not answer or lost the room.
   */
  async attach(room: SfuRoom): Promise<VideoRoomHandle> {
    const link = this.#links.find((candidate) => candidate.url === room.janusUrl && candidate.rooms.has(room.room))
    if (!link) throw new RingKitError('SFU_UNAVAILABLE', 'The media server no longer has the room of this call.')
    try {
      return await link.attach()
    } catch (error) {
      throw new RingKitError('SFU_UNAVAILABLE', undefined, { cause: error })
    }
  }

  /** The rooms the pool holds, per Janus URL. */
  rooms(): Map<string, SfuRoom[]> {
    return new Map(this.#links.map((link) => [link.url, [...link.rooms.values()]]))
  }

  /** Closes every Janus connection. Rooms are left to their Janus; no onRoomsLost follows. */
  async close(): Promise<void> {
    this.#closed = true
    await Promise.all(this.#links.map(async (link) => link.close()))
  }

  /** `work` on each Janus in preference order until one succeeds; SFU_UNAVAILABLE, with every failure, when none does. */
  async #inTurn<T>(
    noneDid: string,
    shared: ReadonlyMap<string, number> | undefined,
    work: (link: JanusLink) => Promise<T>,
  ): Promise<T> {
    const failures: unknown[] = []
    if (!this.#closed) {
      for (const link of this.#byPreference(shared)) {
        try {
          return await work(link)
        } catch (error) {
          failures.push(error)
        }
      }
    }
    throw new RingKitError('SFU_UNAVAILABLE', undefined, {
      cause: new AggregateError(failures, this.#closed ? 'the Janus pool is closed' : noneDid),
    })
  }

  /** Fewest rooms (held or being created) first; a Janus that failed within `retryDownMs` goes after all the others. */
  #byPreference(shared: ReadonlyMap<string, number> | undefined): JanusLink[] {
    const downUntil = Date.now() - (this.#options.retryDownMs ?? 5_000)
    const recentlyFailed = (link: JanusLink) => (link.failedAt > downUntil ? 1 : 0)
    // The cluster's count leaves out the rooms this node is creating right now.
    const load = (link: JanusLink) => (shared ? (shared.get(link.url) ?? 0) + link.creating : link.load)
    // Array.prototype.sort is stable, so equal links keep the order they were listed in.
    return [...this.#links].sort((a, b) => recentlyFailed(a) - recentlyFailed(b) || load(a) - load(b))
  }

  #lost(rooms: SfuRoom[]): void {
    if (rooms.length === 0) return
    try {
      this.#options.onRoomsLost?.(rooms)
    } catch {
      // The listener's failure is its own; the pool keeps serving the other Janus servers.
    }
  }
}
