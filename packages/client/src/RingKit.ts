import {
  DEFAULT_CALL_TIMEOUT_MS,
  MAX_ATTACHMENT_BYTES,
  MAX_CALL_TIMEOUT_MS,
  CLOSE_PAGE_CLOSED,
  RingKitError,
  attachmentBytes,
  type Attachment,
  type CallMedia,
  type CallRecord,
  type CallType,
  type GroupMember,
  type HistoryPage,
  type IceServer,
  type ServerEvent,
} from '@ringkit/protocol'
import { Call } from './Call.ts'
import { Connection } from './Connection.ts'
import { Emitter } from './Emitter.ts'
import { ServerList } from './ServerList.ts'
import { callFromLocation, subscribe, takeCallFromNotification } from './push.ts'
import { MeshMedia } from './media/MeshMedia.ts'
import { SfuMedia } from './media/SfuMedia.ts'
import { NoMedia, type GroupMediaSession, type MediaSession } from './media/types.ts'
import { WebRtcMedia, type MediaCallContext, type MediaEnvironment } from './media/WebRtcMedia.ts'
import {
  EVENT,
  type CallOptions,
  type GroupCallOptions,
  type HistoryOptions,
  type LoginInfo,
  type LoginOptions,
  type PushOptions,
  type RingKitEvents,
  type RingKitOptions,
  type WebSocketConstructor,
} from './types.ts'

/** What a call's media needs to know of it, filled in as the server tells. */
interface CallRef {
  callId: string
  iceServers: IceServer[]
  call?: Call
}

/** Renew a provided token this long before it expires. */
const RENEW_BEFORE_MS = 60_000

/** How many calls the SDK remembers as over, to ignore a late copy of one's invite. */
const RECENT_RECORDS = 32

/**
 * A device's RingKit client: logs in, places and answers calls, and emits typed events.
 * `kit.EVENT` names every event; `on()` returns an unsubscribe function.
 */
export class RingKit {
  readonly EVENT = EVENT
  readonly deviceId: string
  readonly #o: RingKitOptions
  readonly #servers: ServerList
  readonly #events: Emitter<RingKitEvents>
  readonly #calls = new Map<string, Call>()
  /** The latest calls whose record came: over, so a late copy of their invite rings nothing. */
  readonly #over = new Set<string>()
  #connection: Connection | undefined
  #lastToken: string | undefined
  #login: LoginOptions | undefined
  #callTimeoutMs = DEFAULT_CALL_TIMEOUT_MS
  readonly #devices: { camera?: string; microphone?: string } = {}
  #renewTimer: ReturnType<typeof setTimeout> | undefined
  /** The server's VAPID key, from the login result. */
  #vapidPublicKey: string | undefined
  #missedCalls: CallRecord[] = []

  constructor(options: RingKitOptions) {
    this.#o = options
    this.#servers = new ServerList(options.server)
    this.deviceId = options.deviceId ?? globalThis.crypto.randomUUID()
    this.#events = new Emitter<RingKitEvents>((error, event) => {
      if (event !== 'error') this.#emit('error', { error: asRingKitError(error) })
    })
  }

  on<K extends keyof RingKitEvents>(event: K, listener: (payload: RingKitEvents[K]) => void): () => void {
    return this.#events.on(event, listener)
  }

  once<K extends keyof RingKitEvents>(event: K, listener: (payload: RingKitEvents[K]) => void): () => void {
    return this.#events.once(event, listener)
  }

  off<K extends keyof RingKitEvents>(event: K, listener: (payload: RingKitEvents[K]) => void): void {
    this.#events.off(event, listener)
  }

  get accid(): string | undefined {
    return this.#login?.accid
  }

  get online(): boolean {
    return this.#connection?.online ?? false
  }

  /** Calls this device is part of, ringing or connected. */
  get calls(): Call[] {
    return [...this.#calls.values()]
  }

  /** Logs in; resolves with the calls the account missed while no device of it was online. */
  async login(options: LoginOptions): Promise<LoginInfo> {
    if (this.#connection) throw new RingKitError('ALREADY_LOGGED_IN')
    this.#login = options
    const connection = new Connection(this.#servers, this.#webSocketClass(), this.#o.requestTimeoutMs ?? 10_000, {
      event: (name, data) => this.#onServerEvent({ name, data } as ServerEvent),
      dropped: (reason) => this.#emit('disconnect', { reason }),
      restored: (resumed) => {
        if (!resumed) this.#endAll('disconnected')
        this.#emit('reconnected', { resumed })
      },
      closed: (error) => this.#shutDown(error),
      stray: (error) => this.#emit('error', { error }),
      loginFrame: async () => ({
        appKey: this.#o.appKey,
        accid: options.accid,
        token: await this.#token(),
        deviceId: this.deviceId,
      }),
      heldCalls: () => this.calls.map((call) => call.callId),
    })
    this.#connection = connection
    let result
    try {
      result = await connection.open()
    } catch (error) {
      this.#connection = undefined
      this.#login = undefined
      throw error
    }
    this.#scheduleRenewal()
    globalThis.addEventListener?.('pagehide', this.#pageHidden)
    this.#vapidPublicKey = result.vapidPublicKey
    const missedCalls = result.missedCalls ?? []
    this.#missedCalls = missedCalls
    for (const record of missedCalls) this.#emit('missedCall', record)
    return { missedCalls }
  }

  /**
   * Rings this device while its page is closed: subscribes the app's service worker registration
   * (whose script imports `<server>/ringkit-sw.js`) with the server's key, and keeps the
   * subscription on the server, one per device. Needs notification permission.
   */
  async enablePush(options: PushOptions): Promise<void> {
    const subscription = await subscribe(options, this.#vapidPublicKey)
    const lang = options.lang ?? globalThis.navigator?.language ?? 'en'
    await this.#request('push', { subscription, server: this.#servers.httpUrl, lang }, () => undefined)
  }

  /** Stops ringing this device while its page is closed; `serviceWorker` given, its subscription goes too. */
  async disablePush(options: Partial<PushOptions> = {}): Promise<void> {
    await this.#request('push', { subscription: null }, () => undefined)
    const subscription = await options.serviceWorker?.pushManager.getSubscription()
    await subscription?.unsubscribe()
  }

  /**
   * Answers the call a notification opened this page for (`?ringkitCall=<callId>`), once it rings
   * here after login; resolves with it, or undefined when the page names none or it stopped
   * ringing. The parameter is taken off the address, so that a reload answers nothing.
   */
  async answerFromNotification(options: { href?: string; timeoutMs?: number } = {}): Promise<Call | undefined> {
    const callId = options.href ? callFromLocation(options.href) : takeCallFromNotification()
    if (!callId) return undefined
    const call = await this.ringingCall(callId, options.timeoutMs)
    if (!call) return undefined
    await call.accept()
    return call
  }

  /** The call `callId` ringing on this device, as soon as it does; undefined if it does not within `timeoutMs`. */
  async ringingCall(callId: string, timeoutMs = 5000): Promise<Call | undefined> {
    const call = this.calls.find((c) => c.callId === callId) ?? (await this.#ringing(callId, timeoutMs))
    return call?.status === 'ringing' ? call : undefined
  }

  /** What the latest login said this account missed. */
  get missedCalls(): CallRecord[] {
    return this.#missedCalls
  }

  #ringing(callId: string, timeoutMs: number): Promise<Call | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        off()
        resolve(undefined)
      }, timeoutMs)
      const off = this.on('invited', ({ call }) => {
        if (call.callId !== callId) return
        clearTimeout(timer)
        off()
        resolve(call)
      })
    })
  }

  async logout(): Promise<void> {
    const connection = this.#connection
    if (!connection) return
    // While reconnecting there is no one to tell: the server ends the session after its grace period.
    if (connection.online) await connection.request('logout', {}).catch(() => {})
    this.#shutDown()
  }

  /**
   * Goes away without logging out, as a closed page does: the server ends this device's session at
   * once (its calls end) but keeps its push subscription, so calls ring it through push from now
   * on. The SDK does this by itself when the page goes (`pagehide`); log in again to come back.
   */
  disconnect(): void {
    // Said in a frame first, which the server acts on as it reads it, then in the close code: a
    // page being torn down may not get to send the one, or the server to see the other soon.
    if (this.#connection?.online) void this.#connection.request('logout', { keepPush: true }).catch(() => {})
    this.#shutDown(new RingKitError('NOT_CONNECTED', 'disconnected'), 'disconnected', CLOSE_PAGE_CLOSED)
  }

  readonly #pageHidden = () => this.disconnect()

  /** Default ringing time for calls this device places. */
  setCallTimeout(ms: number): void {
    this.#callTimeoutMs = checkTimeout(ms)
  }

  async call(options: CallOptions): Promise<Call> {
    const timeoutMs = checkTimeout(options.timeoutMs ?? this.#callTimeoutMs)
    checkAttachment(options.attachment)
    const to = options.to
    const accid = this.#login?.accid ?? ''
    const ref: CallRef = { callId: '', iceServers: [] }
    const media = this.#createMedia('caller', options.type, ref)
    // Camera and microphone first: a call that cannot carry media should not ring anyone.
    try {
      await media.open()
    } catch (error) {
      media.close()
      throw error
    }
    const body = {
      to: [to],
      callType: options.type,
      timeoutMs,
      ...(options.attachment ? { attachment: options.attachment } : {}),
    }
    const call = await this.#request('call', body, ({ callId, iceServers }) => {
      ref.callId = callId
      ref.iceServers = iceServers
      return (ref.call = this.#newCall(callId, 'caller', options.type, accid, [to], options.attachment, media))
    }).catch((error: unknown) => {
      media.close()
      throw error
    })
    if (call.status !== 'ended') media.start()
    return call
  }

  /**
   * Rings several people at once. Without Janus on the server the call is a mesh of up to 4 people;
   * with it, up to 25. Members answer, decline or miss it one by one and the call goes on.
   */
  async groupCall(options: GroupCallOptions): Promise<Call> {
    const timeoutMs = checkTimeout(options.timeoutMs ?? this.#callTimeoutMs)
    checkAttachment(options.attachment)
    const accid = this.#login?.accid ?? ''
    const ref: CallRef = { callId: '', iceServers: [] }
    const body = {
      to: options.to,
      callType: options.type,
      timeoutMs,
      group: true,
      ...(options.attachment ? { attachment: options.attachment } : {}),
    }
    const call = await this.#request('call', body, ({ callId, iceServers, media }) => {
      ref.callId = callId
      ref.iceServers = iceServers
      const members = ringingMembers(accid, options.to)
      const group = { media: this.#groupMedia(media, 'caller', options.type, ref), members }
      return (ref.call = this.#newCall(callId, 'caller', options.type, accid, options.to, options.attachment, group))
    })
    // Camera and microphone open while the others ring; if they cannot, the call is called off.
    await call._open().catch(async (error: unknown) => {
      await call.cancel().catch(() => {})
      throw error
    })
    return call
  }

  /** Group calls: comes (back) into a live call I was invited to, after declining, missing or leaving it. */
  async join(callId: string): Promise<Call> {
    const ringing = this.#calls.get(callId)
    if (ringing?.isGroup && ringing.status === 'ringing') {
      await ringing.accept()
      return ringing
    }
    const ref: CallRef = { callId, iceServers: [] }
    const result = await this.#request('join', { callId })
    // TURN credentials come with the call, not with the login.
    ref.iceServers = result.iceServers ?? []
    const info = result.call
    if (!info || !result.media) throw new RingKitError('NOT_GROUP_CALL')
    const me = this.#login?.accid ?? ''
    const role = info.caller === me ? 'caller' : 'callee'
    const group = { media: this.#groupMedia(result.media, role, info.type, ref), members: info.members }
    const call = (ref.call = this.#newCall(callId, role, info.type, info.caller, info.callees, info.attachment, group))
    // A camera that cannot open leaves the member in the call without media: it goes out again.
    await call._open().catch(async (error: unknown) => {
      await call.leave().catch(() => {})
      throw error
    })
    call._joined(result)
    return call
  }

  async getCallHistory(options: HistoryOptions = {}): Promise<HistoryPage> {
    return this.#request('history', {
      ...(options.limit === undefined ? {} : { limit: options.limit }),
      ...(options.cursor === undefined ? {} : { cursor: options.cursor }),
    })
  }

  /** Cameras, microphones and speakers, as the runtime lists them (labels once permission was given). */
  async listDevices(): Promise<MediaDeviceInfo[]> {
    const mediaDevices =
      this.#o.mediaDevices ?? (globalThis as { navigator?: { mediaDevices?: MediaDevices } }).navigator?.mediaDevices
    if (!mediaDevices) throw new RingKitError('MEDIA_UNAVAILABLE')
    return mediaDevices.enumerateDevices()
  }

  /** Uses this camera or microphone from now on, in calls under way too. */
  async selectDevice(kind: 'camera' | 'microphone', deviceId: string): Promise<void> {
    this.#devices[kind] = deviceId
    await Promise.all(this.calls.map((call) => call._useDevice(kind, deviceId)))
  }

  /** Drops the signaling socket as a network fault would. The SDK resumes by itself. */
  simulateNetworkDrop(): void {
    this.#connection?.simulateDrop()
  }

  #request: Connection['request'] = (type, body, onResult) => {
    if (!this.#connection) return Promise.reject(new RingKitError('NOT_CONNECTED', 'log in first'))
    return this.#connection.request(type, body, onResult)
  }

  #newCall(
    callId: string,
    role: 'caller' | 'callee',
    type: 'audio' | 'video',
    caller: string,
    callees: string[],
    attachment: CallOptions['attachment'],
    media: MediaSession | { media: GroupMediaSession; members: GroupMember[] },
  ): Call {
    const group = 'members' in media ? { group: media } : {}
    const call = new Call({
      callId,
      role,
      type,
      caller,
      callees,
      attachment,
      request: this.#request,
      media: 'members' in media ? media.media : media,
      ...group,
    })
    this.#calls.set(callId, call)
    return call
  }

  /** A ringing device without WebRTC still rings: it says why it cannot carry media. */
  #calleeMedia(type: 'audio' | 'video', ref: CallRef): MediaSession {
    try {
      return this.#createMedia('callee', type, ref)
    } catch (error) {
      this.#emit('error', { error: asRingKitError(error) })
      return new NoMedia()
    }
  }

  /** The call's media: WebRTC from the options or the browser, or none with `media: false`. */
  #createMedia(role: 'caller' | 'callee', type: CallType, ref: CallRef): MediaSession {
    const env = this.#mediaEnvironment(ref)
    if (!env) return new NoMedia()
    return new WebRtcMedia(env, {
      ...this.#mediaContext(type, ref),
      role,
      failed: (error) => {
        this.#emit('error', { error })
        void ref.call?._fail().catch(() => {})
      },
    })
  }

  /**
   * A group call's media: a mesh of peer connections, or connections with the media server. A
   * member whose media fails is told so; in a mesh the other connections go on.
   */
  #groupMedia(kind: CallMedia, role: 'caller' | 'callee', type: CallType, ref: CallRef): GroupMediaSession {
    let env: MediaEnvironment | undefined
    try {
      env = this.#mediaEnvironment(ref)
    } catch (error) {
      this.#emit('error', { error: asRingKitError(error) })
    }
    if (!env) return new NoMedia()
    const context = {
      ...this.#mediaContext(type, ref),
      role,
      failed: (error: RingKitError) => this.#emit('error', { error }),
    }
    if (kind === 'mesh') return new MeshMedia(env, context)
    return new SfuMedia(env, {
      type,
      me: context.me,
      emit: context.emit,
      sfu: async (data) => this.#request('sfu', { callId: ref.callId, data }),
      // Media through Janus that cannot recover leaves this member without sound or picture: it leaves.
      failed: (error) => {
        this.#emit('error', { error })
        void ref.call?.leave().catch(() => {})
      },
    })
  }

  /** WebRTC from the options or the runtime; undefined with `media: false`. */
  #mediaEnvironment(ref: CallRef): MediaEnvironment | undefined {
    if (this.#o.media === false) return undefined
    const g = globalThis as {
      RTCPeerConnection?: MediaEnvironment['RTCPeerConnection']
      MediaStream?: MediaEnvironment['MediaStream']
      navigator?: { mediaDevices?: MediaEnvironment['mediaDevices'] }
    }
    const RTCPeerConnection = this.#o.RTCPeerConnection ?? g.RTCPeerConnection
    const mediaDevices = this.#o.mediaDevices ?? g.navigator?.mediaDevices
    if (!RTCPeerConnection || !mediaDevices) throw new RingKitError('MEDIA_UNAVAILABLE')
    const MediaStream = this.#o.MediaStream ?? g.MediaStream
    const fixedIce = this.#o.iceServers
    const sessionIce = () => this.#connection?.session?.iceServers ?? []
    return {
      RTCPeerConnection,
      mediaDevices,
      ...(MediaStream ? { MediaStream } : {}),
      // Read when the peer connection is made: by then the call's fresh TURN credentials are in.
      get iceServers() {
        return (fixedIce ?? (ref.iceServers.length ? ref.iceServers : sessionIce())) as RTCIceServer[]
      },
      ...(this.#o.iceTransportPolicy ? { iceTransportPolicy: this.#o.iceTransportPolicy } : {}),
      ...(this.#o.mediaTimeoutMs ? { deadAfterMs: this.#o.mediaTimeoutMs } : {}),
      devices: () => this.#devices,
    }
  }

  /** How a call's media talks to the call: its negotiation goes out as `signal`, its events come out as the kit's. */
  #mediaContext(type: CallType, ref: CallRef): Omit<MediaCallContext, 'role' | 'failed'> {
    return {
      type,
      me: this.#login?.accid ?? '',
      signal: async (data, to) => {
        await this.#request('signal', { callId: ref.callId, data, ...(to ? { to } : {}) })
      },
      emit: (event) => {
        // The call outlives its place in #calls for the events of its ending (userLeave).
        const call = ref.call
        if (event.name === 'error') return this.#emit('error', { error: event.error })
        if (!call) return
        switch (event.name) {
          case 'userEnter':
            return this.#emit(event.name, { call, accid: event.accid })
          case 'userLeave':
            // A group member's leaving is the server's to tell: its media may go before or after.
            return call.isGroup ? undefined : this.#emit(event.name, { call, accid: event.accid })
          case 'volume':
            return this.#emit('volume', { call, accid: event.accid, level: event.level })
          case 'networkQuality':
            return this.#emit('networkQuality', { call, accid: event.accid, quality: event.quality })
          case 'mediaRestored':
            return this.#emit('reconnected', { resumed: true, call })
        }
      },
    }
  }

  #onServerEvent(event: ServerEvent): void {
    switch (event.name) {
      case 'invited': {
        const d = event.data
        if (this.#over.has(d.callId)) return
        const callees = d.members.filter((m) => m !== d.from)
        const ref: CallRef = { callId: d.callId, iceServers: d.iceServers }
        const media = d.isGroup
          ? { media: this.#groupMedia(d.media, 'callee', d.type, ref), members: ringingMembers(d.from, callees) }
          : this.#calleeMedia(d.type, ref)
        const call = (ref.call = this.#newCall(d.callId, 'callee', d.type, d.from, callees, d.attachment, media))
        const { from, type, isGroup, members, attachment } = d
        return this.#emit('invited', { call, from, type, isGroup, members, ...(attachment ? { attachment } : {}) })
      }
      case 'record': {
        this.#over.add(event.data.callId)
        if (this.#over.size > RECENT_RECORDS) this.#over.delete(this.#over.values().next().value!)
        // A record comes after the call's end; an end lost with a node that died is taken as heard.
        const held = this.#calls.get(event.data.callId)
        if (held) {
          this.#calls.delete(held.callId)
          held._ended(event.data.endReason)
          this.#emit('callEnd', { call: held, reason: event.data.endReason })
        }
        return this.#emit('record', event.data)
      }
      case 'kickedOffline':
        this.#emit('kickedOffline', event.data)
        return this.#shutDown(new RingKitError('KICKED_OFFLINE'), 'kicked')
      case 'tokenExpired':
        this.#emit('tokenExpired', {})
        return this.#shutDown(new RingKitError('TOKEN_EXPIRED'), 'disconnected')
    }
    const call = this.#calls.get(event.data.callId)
    if (!call) return
    switch (event.name) {
      case 'userAccept':
        // Through Janus the caller publishes once the room exists, which the first answer makes.
        if (call.isGroup && call.role === 'caller') call._joined({})
        else call._connected()
        return this.#emit('userAccept', { call, accid: event.data.accid })
      case 'userReject':
      case 'userBusy':
      case 'userCancel':
        return this.#emit(event.name, { call, accid: event.data.accid })
      case 'callingTimeout': {
        const { accid } = event.data
        return this.#emit('callingTimeout', { call, ...(accid ? { accid } : {}) })
      }
      case 'userLeave':
        call._memberLeft(event.data.accid)
        return this.#emit('userLeave', { call, accid: event.data.accid })
      case 'members':
        call._members(event.data.members)
        return this.#emit('membersChange', { call, members: event.data.members })
      case 'sfu':
        call._sfu(event.data.data).catch((error: unknown) => this.#emit('error', { error: asRingKitError(error) }))
        return
      case 'callEnd': {
        const { reason, by } = event.data
        this.#calls.delete(call.callId)
        call._ended(reason)
        return this.#emit('callEnd', { call, reason, ...(by ? { by } : {}) })
      }
      case 'otherClientAccept':
      case 'otherClientReject':
        this.#calls.delete(call.callId)
        call._ended(event.name === 'otherClientAccept' ? 'answeredElsewhere' : 'rejectedElsewhere')
        return this.#emit(event.name, { call, deviceId: event.data.deviceId })
      case 'audioAvailable':
      case 'videoAvailable':
        return this.#emit(event.name, { call, accid: event.data.accid, available: event.data.available })
      case 'callTypeChange': {
        const { type, state, by } = event.data
        call._typeChanged(type, state, by === this.#login?.accid)
        return this.#emit('callTypeChange', { call, type, state, by })
      }
      case 'signal':
        call._signal(event.data.from, event.data.data).catch((error: unknown) => {
          this.#emit('error', { error: asRingKitError(error) })
        })
        return
    }
  }

  #emit<K extends keyof RingKitEvents>(name: K, payload: RingKitEvents[K]): void {
    this.#events.emit(name, payload)
  }

  async #token(): Promise<string> {
    const login = this.#login
    if (!login) throw new RingKitError('NOT_LOGGED_IN')
    this.#lastToken = 'token' in login ? login.token : await login.tokenProvider()
    return this.#lastToken
  }

  /** With a token provider, fetches a fresh token a minute (or a fifth of its life) before expiry. */
  #scheduleRenewal(): void {
    clearTimeout(this.#renewTimer)
    const login = this.#login
    const expiresAt = tokenExpiry(this.#lastToken ?? '')
    if (!login || !('tokenProvider' in login) || expiresAt === undefined) return
    const left = expiresAt - Date.now()
    const delay = Math.max(1000, left - Math.min(RENEW_BEFORE_MS, left / 5))
    this.#renewTimer = setTimeout(
      () => {
        this.#token()
          .then((token) => this.#request('renew', { token }))
          .then(
            () => this.#scheduleRenewal(),
            (error: unknown) => {
              this.#emit('error', { error: asRingKitError(error) })
              this.#renewTimer = setTimeout(() => this.#scheduleRenewal(), 5000)
            },
          )
      },
      Math.min(delay, 2 ** 31 - 1),
    )
  }

  #endAll(reason: 'disconnected' | 'kicked'): void {
    for (const call of [...this.#calls.values()]) {
      this.#calls.delete(call.callId)
      call._ended(reason)
      this.#emit('callEnd', { call, reason })
    }
  }

  #shutDown(error?: RingKitError, reason: 'disconnected' | 'kicked' = 'disconnected', code?: number): void {
    clearTimeout(this.#renewTimer)
    globalThis.removeEventListener?.('pagehide', this.#pageHidden)
    this.#endAll(reason)
    this.#connection?.close(error, code)
    this.#connection = undefined
    this.#login = undefined
  }

  #webSocketClass(): WebSocketConstructor {
    const impl = this.#o.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!impl) throw new RingKitError('NOT_CONNECTED', 'no WebSocket in this runtime: pass options.WebSocket')
    return impl
  }
}

/** A group call as an invited device first sees it: the caller in, everyone else ringing. */
function ringingMembers(caller: string, callees: string[]): GroupMember[] {
  return [{ accid: caller, status: 'joined' }, ...callees.map((accid): GroupMember => ({ accid, status: 'ringing' }))]
}

function checkTimeout(ms: number): number {
  if (!Number.isInteger(ms) || ms < 1000 || ms > MAX_CALL_TIMEOUT_MS) {
    throw new RingKitError('CALL_TIMEOUT_INVALID', `call timeout must be 1000 to ${MAX_CALL_TIMEOUT_MS} ms, got ${ms}`)
  }
  return ms
}

/** The server refuses the same: checked here so that no camera opens for a call that cannot ring. */
function checkAttachment(attachment: Attachment | undefined): void {
  if (attachment && attachmentBytes(attachment) > MAX_ATTACHMENT_BYTES) {
    throw new RingKitError('ATTACHMENT_TOO_LARGE', `attachments are limited to ${MAX_ATTACHMENT_BYTES} bytes of JSON`)
  }
}

/** Reads a JWT's `exp` (epoch ms) without checking it: only to know when to renew. */
function tokenExpiry(token: string): number | undefined {
  const payload = token.split('.')[1]
  if (!payload) return undefined
  try {
    const json = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as { exp?: unknown }
    return typeof json.exp === 'number' ? json.exp * 1000 : undefined
  } catch {
    return undefined
  }
}

function asRingKitError(error: unknown): RingKitError {
  return error instanceof RingKitError ? error : new RingKitError('INTERNAL', String(error), { cause: error })
}
