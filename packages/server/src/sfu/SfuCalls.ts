import Janode, { type JanodeCandidate } from 'janode'
import type { VideoRoomHandle } from 'janode/plugins/videoroom'
import {
  RingKitError,
  type DeviceRef,
  type SfuClientMessage,
  type SfuPublishResult,
  type SfuServerMessage,
} from '@ringkit/protocol'
import { KeyedQueue } from '../calls/keyed-queue.ts'
import { assertReadableByJanus } from './janus-text.ts'
import { JanusPool } from './JanusPool.ts'
import { withTimeout } from './JanusLink.ts'
import { destroyQuietly, sharedRoom, watchPublishers, type Publisher } from './shared-rooms.ts'
import { Subscription } from './Subscription.ts'
import type { SfuRoom, SfuRoomRegistry } from './types.ts'

export interface SfuCallsOptions {
  /** Janus WebSocket API URLs; each call's room goes to the least loaded one. */
  urls: string[]
  apiSecret: string
  /** How long one Janus request may take before it counts as failed. Default 5 s. */
  requestTimeoutMs?: number
  /** Sends an `sfu` event to one device (the server wraps it as event `sfu {callId, data}`). */
  send(appKey: string, callId: string, device: DeviceRef, data: SfuServerMessage): void
  /** A call's Janus went away (connection lost): the engine ends the call with reason mediaServerLost. */
  onCallLost(appKey: string, callId: string): void
  /** How long negotiation waited: on Janus, one request; on a device, answering an offer. For metrics. */
  observe?(on: 'janus' | 'device', seconds: number): void
  /**
   * Several nodes: the call's room is found here first and made only by the first node that needs
   * it, on the Janus the cluster loads least; members on other nodes are seen through Janus's own
   * publisher events. Without it, this node's calls and rooms are all there are.
   */
  rooms?: SfuRoomRegistry
  /** How often this node renews its holds on the rooms it has members in. Default 5 s. */
  holdEveryMs?: number
}

interface GroupCall {
  appKey: string
  callId: string
  room: Promise<SfuRoom>
  members: Map<string, Member>
  /** Feeds of this node's members, ever: Janus may announce one after its member left here. */
  localFeeds: Set<number>
  /** Publishers on other nodes (cluster only), feed → accid, as Janus announces them. */
  remote: Map<number, string>
  closed: boolean
}

interface Member {
  device: DeviceRef
  publisher?: { handle: VideoRoomHandle; feed: number }
  /** Janus relays the feed: its PeerConnection is up. Janus refuses subscriptions before (428). */
  live: boolean
  /** Made once the device's first publish is answered. */
  subscription?: Subscription
  /** When the offer now out was sent (performance.now()). */
  offeredAt?: number
  gone: boolean
}

/** Janus errors about a session description or candidate the device sent, not about Janus. */
const REJECTED_BY_JANUS = /^(431|437|464|465|466|467)\b/

/**
 * Group-call media through Janus VideoRoom, relayed so that devices never learn Janus's address,
 * room, pin or secret. Per device: a publisher handle (its camera and microphone) and one
 * multistream subscriber handle (everyone else's feeds).
 */
export class SfuCalls {
  readonly #options: SfuCallsOptions
  readonly #pool: JanusPool
  readonly #timeoutMs: number
  readonly #calls = new Map<string, GroupCall>()
  /** Calls by the room createRoom() gave them, for onRoomsLost. */
  readonly #byRoom = new Map<SfuRoom, GroupCall>()
  /** One device's publisher requests in arrival order: a candidate never overtakes its offer. */
  readonly #queue = new KeyedQueue()
  /** Handles detached on purpose: their `detached` event is not a loss. */
  readonly #released = new WeakSet<VideoRoomHandle>()
  #closed = false
  readonly #holding: NodeJS.Timeout | undefined

  constructor(options: SfuCallsOptions) {
    this.#options = options
    this.#timeoutMs = options.requestTimeoutMs ?? 5_000
    this.#pool = new JanusPool({
      urls: options.urls,
      apiSecret: options.apiSecret,
      requestTimeoutMs: this.#timeoutMs,
      onRoomsLost: (rooms) => {
        for (const room of rooms) {
          const call = this.#byRoom.get(room)
          if (call) this.#lost(call)
        }
      },
    })
    if (options.rooms) {
      this.#holding = setInterval(() => void this.#hold(), options.holdEveryMs ?? 5_000)
      this.#holding.unref()
    }
  }

  /** Resolves when some Janus answers (connects/attaches); else rejects RingKitError SFU_UNAVAILABLE. */
  async available(): Promise<void> {
    await this.#pool.available()
  }

  /** Creates the call's room once (concurrent calls share one creation); rejects SFU_UNAVAILABLE. */
  async open(appKey: string, callId: string): Promise<void> {
    let call = this.#calls.get(callId)
    if (!call) {
      const opened: GroupCall = {
        appKey,
        callId,
        room: this.#roomOf(callId),
        members: new Map(),
        localFeeds: new Set(),
        remote: new Map(),
        closed: false,
      }
      opened.room.then(
        (room) => this.#byRoom.set(room, opened),
        // Forgotten, so that the next open() tries again.
        () => this.#calls.get(callId) === opened && this.#calls.delete(callId),
      )
      this.#calls.set(callId, opened)
      call = opened
    }
    await call.room
  }

  /** Relays one message from a device the engine checked is in the call. A publish before open() finished waits for it. */
  async handle(
    appKey: string,
    callId: string,
    device: DeviceRef,
    message: SfuClientMessage,
  ): Promise<SfuPublishResult | Record<string, never>> {
    assertReadableByJanus(message)
    // A device that came to this node after the call began (it resumed here) joins the call's room,
    // but makes none: a call that has none by now has ended, or is ending.
    const rooms = this.#options.rooms
    if (rooms && !this.#calls.has(callId) && message.kind === 'publish' && (await rooms.get(callId))) {
      await this.open(appKey, callId)
    }
    const call = this.#calls.get(callId)
    if (!call || call.appKey !== appKey) {
      throw new RingKitError('INVALID_STATE', 'This call has no group media: it was not opened, or it ended.')
    }
    const member = call.members.get(deviceKey(device))
    switch (message.kind) {
      case 'publish':
        return this.#publish(call, this.#member(call, device), message.description.sdp)
      case 'answer': {
        if (!member?.subscription)
          throw new RingKitError('INVALID_STATE', 'No subscriber offer is waiting for an answer.')
        const answeredAt = performance.now()
        await member.subscription.answer(message.description.sdp)
        // Only an answer Janus took ends the wait for the offer it answers.
        if (member.offeredAt !== undefined) this.#options.observe?.('device', (answeredAt - member.offeredAt) / 1000)
        member.offeredAt = undefined
        return {}
      }
      case 'candidate': {
        const candidate = asJanusCandidate(message.candidate)
        if (message.target === 'subscriber') {
          if (!member?.subscription) throw new RingKitError('INVALID_STATE', 'No subscriber offer was sent yet.')
          await member.subscription.trickle(candidate)
          return {}
        }
        // A member exists from its first publish on.
        if (!member) throw new RingKitError('INVALID_STATE', 'A publisher candidate came before any publish.')
        await this.#queue.run(queueKey(call, device), async () => {
          const handle = member.publisher?.handle
          if (!handle || member.gone) throw new RingKitError('INVALID_STATE', 'This device is not publishing.')
          await this.#request(async () => handle.trickle(candidate))
        })
        return {}
      }
    }
  }

  /** The device left the call: detach its handles; every other subscriber gets an updated offer without its streams. */
  async leave(callId: string, device: DeviceRef): Promise<void> {
    const call = this.#calls.get(callId)
    const member = call?.members.get(deviceKey(device))
    if (!call || !member) return
    member.gone = true
    call.members.delete(deviceKey(device))
    this.#refresh(call)
    // After any publish of this device still under way, so that its handle is not left behind.
    await this.#queue.run(queueKey(call, device), async () => this.#release(member))
  }

  /**
   * The call ended: destroy the room and detach every handle. Never throws. In a cluster the node
   * that ends the call destroys the room even with no member of its own in it, and only that node.
   */
  async close(callId: string): Promise<void> {
    const call = this.#calls.get(callId)
    if (call) await this.#close(call, true)
    else if (this.#options.rooms) await this.#destroy(await this.#options.rooms.take(callId).catch(() => undefined))
  }

  /**
   * Ends every call's media as close() does, then closes all Janus connections. Never throws. In a
   * cluster the rooms stay: members on other nodes are still in them, and the call's end destroys them.
   */
  async shutdown(): Promise<void> {
    this.#closed = true
    clearInterval(this.#holding)
    const alone = !this.#options.rooms
    await Promise.all([...this.#calls.values()].map(async (call) => this.#close(call, alone)))
    await this.#pool.close()
  }

  /**
   * The call's room, Janus URL, pin and secret: for the server's own diagnostics and tests only.
   * Nothing of it may reach a device.
   */
  async roomOf(callId: string): Promise<SfuRoom | undefined> {
    return this.#calls.get(callId)?.room
  }

  async #publish(call: GroupCall, member: Member, sdp: string): Promise<SfuPublishResult> {
    return this.#queue.run(queueKey(call, member.device), async () => {
      const room = await call.room
      const { handle } = member.publisher ?? (await this.#joinAsPublisher(call, member, room))
      // A second publish renegotiates on the same handle (an ICE restart, say).
      const configured = await this.#request(async () => handle.configure({ jsep: { type: 'offer', sdp } }))
      // Janus is there and took the request: what it did not answer is the device's offer.
      if (!configured.jsep) throw new RingKitError('INVALID_PARAMS', 'The media server did not answer this offer.')
      if (member.gone || call.closed) throw new RingKitError('INVALID_STATE', 'This device left the call.')
      if (!member.subscription) {
        member.subscription = this.#subscription(call, member, room)
        this.#refresh(call)
      }
      return { description: { type: 'answer', sdp: withoutRoomName(configured.jsep.sdp) } }
    })
  }

  async #joinAsPublisher(call: GroupCall, member: Member, room: SfuRoom): Promise<{ handle: VideoRoomHandle }> {
    const handle = await this.#attach(call, room)
    handle.on(Janode.EVENT.HANDLE_WEBRTCUP, () => {
      member.live = true
      this.#refresh(call)
    })
    handle.on(Janode.EVENT.HANDLE_HANGUP, () => {
      member.live = false
      this.#refresh(call)
    })
    // Before the join, whose answer may come after Janus announced a publisher to this handle.
    const watching = this.#options.rooms ? this.#watchRoom(call, handle) : undefined
    try {
      // The display name is the accid, so that Janus's own logs and admin views say who is who.
      const joined = await this.#request(async () =>
        handle.joinPublisher({ room: room.room, pin: room.pin, display: member.device.accid }),
      )
      if (member.gone || call.closed) throw new RingKitError('INVALID_STATE', 'This device left the call.')
      member.publisher = { handle, feed: joined.feed }
      call.localFeeds.add(joined.feed)
      watching?.joined(joined.publishers)
      return member.publisher
    } catch (error) {
      await this.#releaseHandle(handle)
      throw error
    }
  }

  #subscription(call: GroupCall, member: Member, room: SfuRoom): Subscription {
    return new Subscription({
      join: async (feeds) => {
        const handle = await this.#attach(call, room)
        try {
          const joined = await this.#request(async () =>
            handle.joinSubscriber({
              room: room.room,
              pin: room.pin,
              streams: feeds.map((feed) => ({ feed })),
              autoupdate: false,
            }),
          )
          return { handle, ...joined }
        } catch (error) {
          await this.#releaseHandle(handle)
          throw error
        }
      },
      request: async (work) => this.#request(work),
      release: async (handle) => this.#releaseHandle(handle),
      accidOf: (feed) =>
        [...call.members.values()].find((other) => other.publisher?.feed === feed)?.device.accid ??
        call.remote.get(feed),
      offer: (jsep, streams) => {
        if (call.closed || member.gone) return
        const description = { type: 'offer' as const, sdp: withoutRoomName(jsep.sdp) }
        member.offeredAt = performance.now()
        try {
          this.#options.send(call.appKey, call.callId, member.device, { kind: 'offer', description, streams })
        } catch {
          // Delivery is the server's business: an offer that did not go stays unanswered until the device leaves.
        }
      },
    })
  }

  /** Every subscriber is brought to the feeds Janus relays now, its own excepted. */
  #refresh(call: GroupCall): void {
    if (call.closed) return
    const members = [...call.members.values()]
    const remote = [...call.remote.keys()].filter((feed) => !call.localFeeds.has(feed))
    for (const member of members) {
      const feeds = members.flatMap((other) =>
        other !== member && other.live && other.publisher ? [other.publisher.feed] : [],
      )
      member.subscription?.want([...feeds, ...remote])
    }
  }

  #member(call: GroupCall, device: DeviceRef): Member {
    const key = deviceKey(device)
    let member = call.members.get(key)
    if (!member) {
      member = { device, live: false, gone: false }
      call.members.set(key, member)
    }
    return member
  }

  /** A participant's handle, whose unexpected end (session or connection gone) loses the call. */
  async #attach(call: GroupCall, room: SfuRoom): Promise<VideoRoomHandle> {
    const handle = await this.#pool.attach(room)
    handle.once(Janode.EVENT.HANDLE_DETACHED, () => {
      if (!this.#released.has(handle)) this.#lost(call)
    })
    return handle
  }

  /**
   * A room its Janus lost is one the pool no longer knows: destroying it is then a no-op. With
   * `destroy` false only this node's part goes: its handles, and its hold on the room.
   */
  async #close(call: GroupCall, destroy: boolean): Promise<void> {
    call.closed = true
    if (this.#calls.get(call.callId) === call) this.#calls.delete(call.callId)
    const room = await call.room.catch(() => undefined)
    if (room) this.#byRoom.delete(room)
    await Promise.all([...call.members.values()].map(async (member) => this.#release(member)))
    if (!room || !destroy) return
    const rooms = this.#options.rooms
    // In a cluster, of the nodes that end the call (or lose it) only one is handed the room.
    await this.#destroy(rooms ? await rooms.take(call.callId).catch(() => undefined) : room)
  }

  async #destroy(room: SfuRoom | undefined): Promise<void> {
    if (room) await destroyQuietly(this.#pool, room)
  }

  async #roomOf(callId: string): Promise<SfuRoom> {
    const rooms = this.#options.rooms
    return rooms ? sharedRoom(this.#pool, rooms, callId) : this.#pool.createRoom()
  }

  /** Cluster: renews this node's hold on each room it has members in, so that its Janus counts it. */
  async #hold(): Promise<void> {
    const rooms = this.#options.rooms
    if (!rooms) return
    for (const call of this.#calls.values()) {
      const room = await call.room.catch(() => undefined)
      // Redis away: the hold lapses and the count with it, which only makes this Janus look idler.
      if (room && !call.closed) await rooms.hold(call.callId, room).catch(() => undefined)
    }
  }

  /** Cluster: members on other nodes come and go as Janus announces their feeds. */
  #watchRoom(call: GroupCall, handle: VideoRoomHandle): { joined(publishers: Publisher[]): void } {
    return watchPublishers(handle, {
      announced: (list) => {
        for (const { feed, display } of list) call.remote.set(feed, display ?? '')
        this.#refresh(call)
      },
      gone: (feed) => call.remote.delete(feed) && this.#refresh(call),
      // The call ended on another node, which destroyed the room: nothing is lost, only this node's part goes.
      destroyed: () => void (call.closed || this.#close(call, false)),
    })
  }

  async #release(member: Member): Promise<void> {
    member.gone = true
    const handle = member.publisher?.handle
    await Promise.all([member.subscription?.close(), handle && this.#releaseHandle(handle)])
  }

  async #releaseHandle(handle: VideoRoomHandle): Promise<void> {
    this.#released.add(handle)
    await withTimeout('Janus', this.#timeoutMs, async () => handle.detach()).catch(() => undefined)
  }

  /** The call's Janus is gone: its media cannot be relayed any more. Tells the engine once. */
  #lost(call: GroupCall): void {
    if (call.closed || this.#closed) return
    void this.#close(call, true)
    try {
      this.#options.onCallLost(call.appKey, call.callId)
    } catch {
      // The engine's failure is its own; the other calls go on.
    }
  }

  /** One Janus request, bounded in time; a failure becomes SFU_UNAVAILABLE, a refused SDP INVALID_PARAMS. */
  async #request<T>(work: () => Promise<T>): Promise<T> {
    const started = performance.now()
    try {
      const result = await withTimeout('Janus', this.#timeoutMs, work)
      this.#options.observe?.('janus', (performance.now() - started) / 1000)
      return result
    } catch (error) {
      if (error instanceof RingKitError) throw error
      // Janus's own words stay in the cause: they can name the room.
      if (error instanceof Error && REJECTED_BY_JANUS.test(error.message)) {
        throw new RingKitError('INVALID_PARAMS', 'The media server refused this session description or candidate.', {
          cause: error,
        })
      }
      throw new RingKitError('SFU_UNAVAILABLE', undefined, { cause: error })
    }
  }
}

function deviceKey(device: DeviceRef): string {
  return `${device.accid}\n${device.deviceId}`
}

function queueKey(call: GroupCall, device: DeviceRef): string {
  return `${call.callId}\n${deviceKey(device)}`
}

/** Janus names the SDP session after the room (`s=VideoRoom 1234`); devices must not learn the room id. */
function withoutRoomName(sdp: string): string {
  return sdp.replace(/^s=.*$/m, 's=-')
}

/** A device's candidate as Janus takes it; null or an empty candidate ends them. */
function asJanusCandidate(
  candidate: Extract<SfuClientMessage, { kind: 'candidate' }>['candidate'],
): JanodeCandidate | null {
  if (!candidate?.candidate) return null
  const { sdpMid, sdpMLineIndex } = candidate
  return {
    candidate: candidate.candidate,
    ...(sdpMid != null ? { sdpMid } : {}),
    ...(sdpMLineIndex != null ? { sdpMLineIndex } : {}),
  }
}
