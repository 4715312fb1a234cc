import { RingKitError, type SfuStream } from '@ringkit/protocol'
import type { JanodeCandidate, JanodeJsep } from 'janode'
import type { VideoRoomHandle, VideoRoomSubscriberStream } from 'janode/plugins/videoroom'

/** A failed negotiation (say, a feed that left between deciding and asking: Janus 428) is tried again this often. */
const RETRY_MS = 500
const MAX_ATTEMPTS = 3

export interface SubscriptionOptions {
  /** Attaches a handle and joins the room as a subscriber to `feeds`; Janus answers with its first offer. */
  join(feeds: number[]): Promise<{ handle: VideoRoomHandle; streams: VideoRoomSubscriberStream[]; jsep?: JanodeJsep }>
  /** Runs one Janus request, bounded in time, failures mapped to RingKitErrors. */
  request<T>(work: () => Promise<T>): Promise<T>
  /** Detaches a handle this subscription is done with. */
  release(handle: VideoRoomHandle): Promise<void>
  /** The member whose feed this is, while it is in the call. */
  accidOf(feed: number): string | undefined
  /** Sends an offer to the device; its answer comes back through `answer()`. */
  offer(description: JanodeJsep, streams: SfuStream[]): void
}

/**
 * One device's multistream subscriber handle, which receives every other member's feed. Janus
 * offers, the device answers, one offer at a time: while an offer waits for its answer, changes to
 * the wanted feeds pile up and go to Janus together in the next update.
 */
export class Subscription {
  readonly #options: SubscriptionOptions
  #handle: VideoRoomHandle | undefined
  #wanted = new Set<number>()
  /** What Janus was last asked to send. */
  #subscribed = new Set<number>()
  /** The streams of the latest offer. */
  #streams: VideoRoomSubscriberStream[] = []
  #offerOut = false
  #answering = false
  #negotiating = false
  #failures = 0
  #retry: NodeJS.Timeout | undefined
  #closed = false

  constructor(options: SubscriptionOptions) {
    this.#options = options
  }

  /** The feeds the device should receive now; Janus is brought there once no offer is out. */
  want(feeds: number[]): void {
    this.#wanted = new Set(feeds)
    this.#failures = 0
    void this.#negotiate()
  }

  /** The device's answer to the offer that is out. */
  async answer(sdp: string): Promise<void> {
    const handle = this.#handle
    if (!handle || !this.#offerOut || this.#answering) {
      throw new RingKitError('INVALID_STATE', 'No subscriber offer is waiting for an answer.')
    }
    this.#answering = true
    try {
      await this.#options.request(async () => handle.start({ jsep: { type: 'answer', sdp } }))
      this.#offerOut = false
    } finally {
      this.#answering = false
    }
    void this.#negotiate()
  }

  async trickle(candidate: JanodeCandidate | null): Promise<void> {
    const handle = this.#handle
    if (!handle)
      throw new RingKitError('INVALID_STATE', 'No subscriber offer was sent yet, so no candidate belongs to it.')
    await this.#options.request(async () => handle.trickle(candidate))
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#retry)
    if (this.#handle) await this.#options.release(this.#handle)
  }

  async #negotiate(): Promise<void> {
    if (this.#closed || this.#negotiating || this.#offerOut) return
    const subscribe = [...this.#wanted].filter((feed) => !this.#subscribed.has(feed))
    const unsubscribe = [...this.#subscribed].filter((feed) => !this.#wanted.has(feed))
    if (subscribe.length === 0 && unsubscribe.length === 0) return
    this.#negotiating = true
    let offer: JanodeJsep | undefined
    try {
      offer = await this.#nextOffer(subscribe, unsubscribe)
    } catch {
      // Janus failing for good shows as its connection lost, which ends the call.
      clearTimeout(this.#retry)
      if (++this.#failures < MAX_ATTEMPTS) this.#retry = setTimeout(() => void this.#negotiate(), RETRY_MS)
      return
    } finally {
      this.#negotiating = false
    }
    for (const feed of subscribe) this.#subscribed.add(feed)
    for (const feed of unsubscribe) this.#subscribed.delete(feed)
    if (this.#closed) return
    if (!offer) return void this.#negotiate()
    this.#offerOut = true
    this.#options.offer(offer, this.#mapped())
  }

  async #nextOffer(subscribe: number[], unsubscribe: number[]): Promise<JanodeJsep | undefined> {
    if (!this.#handle) {
      if (subscribe.length === 0) return undefined
      const joined = await this.#options.join(subscribe)
      if (this.#closed) {
        await this.#options.release(joined.handle)
        return undefined
      }
      this.#handle = joined.handle
      this.#streams = joined.streams
      return joined.jsep
    }
    const handle = this.#handle
    const updated = await this.#options.request(async () =>
      handle.update({
        ...(subscribe.length > 0 ? { subscribe: subscribe.map((feed) => ({ feed })) } : {}),
        ...(unsubscribe.length > 0 ? { unsubscribe: unsubscribe.map((feed) => ({ feed })) } : {}),
      }),
    )
    if (updated.jsep) {
      this.#streams = updated.streams ?? []
      return updated.jsep
    }
    if (unsubscribe.length === 0) return undefined
    // The feeds had gone already: Janus dropped their streams but, with autoupdate off, offers
    // nothing by itself. Ask it for the offer that tells the device.
    const gone = new Set(unsubscribe)
    this.#streams = this.#streams.filter((stream) => stream.feed_id === undefined || !gone.has(stream.feed_id))
    return (await this.#options.request(async () => handle.configure({ update: true }))).jsep
  }

  /** The offer's live audio and video streams, each with the member it comes from. */
  #mapped(): SfuStream[] {
    const mapped: SfuStream[] = []
    for (const { active, feed_id: feed, mid, type } of this.#streams) {
      const accid = feed === undefined ? undefined : this.#options.accidOf(feed)
      if (active && accid && (type === 'audio' || type === 'video')) mapped.push({ mid, accid, kind: type })
    }
    return mapped
  }
}
