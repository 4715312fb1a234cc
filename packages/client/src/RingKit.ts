import {
  DEFAULT_CALL_TIMEOUT_MS,
  MAX_CALL_TIMEOUT_MS,
  RingKitError,
  type HistoryPage,
  type IceServer,
  type ServerEvent,
} from '@ringkit/protocol'
import { Call } from './Call.ts'
import { Connection } from './Connection.ts'
import { Emitter } from './Emitter.ts'
import { NoMedia, type MediaSession } from './media/types.ts'
import { WebRtcMedia, type MediaEnvironment } from './media/WebRtcMedia.ts'
import {
  EVENT,
  type CallOptions,
  type HistoryOptions,
  type LoginOptions,
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

/**
 * A device's RingKit client: logs in, places and answers calls, and emits typed events.
 * `kit.EVENT` names every event; `on()` returns an unsubscribe function.
 */
export class RingKit {
  readonly EVENT = EVENT
  readonly deviceId: string
  readonly #o: RingKitOptions
  readonly #events: Emitter<RingKitEvents>
  readonly #calls = new Map<string, Call>()
  #connection: Connection | undefined
  #lastToken: string | undefined
  #login: LoginOptions | undefined
  #callTimeoutMs = DEFAULT_CALL_TIMEOUT_MS
  readonly #devices: { camera?: string; microphone?: string } = {}
  #renewTimer: ReturnType<typeof setTimeout> | undefined

  constructor(options: RingKitOptions) {
    this.#o = options
    this.deviceId = options.deviceId ?? randomId()
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

  async login(options: LoginOptions): Promise<void> {
    if (this.#connection) throw new RingKitError('ALREADY_LOGGED_IN')
    this.#login = options
    const url = `${this.#o.server.replace(/^http/, 'ws').replace(/\/$/, '')}/v1/signal`
    const connection = new Connection(url, this.#webSocketClass(), this.#o.requestTimeoutMs ?? 10_000, {
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
    })
    this.#connection = connection
    try {
      await connection.open()
    } catch (error) {
      this.#connection = undefined
      this.#login = undefined
      throw error
    }
    this.#scheduleRenewal()
  }

  async logout(): Promise<void> {
    const connection = this.#connection
    if (!connection) return
    // While reconnecting there is no one to tell: the server ends the session after its grace period.
    if (connection.online) await connection.request('logout', {}).catch(() => {})
    this.#shutDown()
  }

  /** Default ringing time for calls this device places. */
  setCallTimeout(ms: number): void {
    this.#callTimeoutMs = checkTimeout(ms)
  }

  async call(options: CallOptions): Promise<Call> {
    const timeoutMs = checkTimeout(options.timeoutMs ?? this.#callTimeoutMs)
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
    media: MediaSession,
  ): Call {
    const call = new Call({ callId, role, type, caller, callees, attachment, request: this.#request, media })
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
  #createMedia(role: 'caller' | 'callee', type: 'audio' | 'video', ref: CallRef): MediaSession {
    if (this.#o.media === false) return new NoMedia()
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
    const env: MediaEnvironment = {
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
    // The call outlives its place in #calls for the events of its ending (userLeave).
    const callOf = () => ref.call
    return new WebRtcMedia(env, {
      role,
      type,
      me: this.#login?.accid ?? '',
      signal: async (data, to) => {
        await this.#request('signal', { callId: ref.callId, data, ...(to ? { to } : {}) })
      },
      emit: (event) => {
        const call = callOf()
        if (event.name === 'error') return this.#emit('error', { error: event.error })
        if (!call) return
        switch (event.name) {
          case 'userEnter':
          case 'userLeave':
            return this.#emit(event.name, { call, accid: event.accid })
          case 'volume':
            return this.#emit('volume', { call, accid: event.accid, level: event.level })
          case 'networkQuality':
            return this.#emit('networkQuality', { call, accid: event.accid, quality: event.quality })
          case 'mediaRestored':
            return this.#emit('reconnected', { resumed: true, call })
        }
      },
      failed: (error) => {
        this.#emit('error', { error })
        void callOf()
          ?._fail()
          .catch(() => {})
      },
    })
  }

  #onServerEvent(event: ServerEvent): void {
    switch (event.name) {
      case 'invited': {
        const d = event.data
        const callees = d.members.filter((m) => m !== d.from)
        const ref: CallRef = { callId: d.callId, iceServers: d.iceServers }
        const media = this.#calleeMedia(d.type, ref)
        const call = (ref.call = this.#newCall(d.callId, 'callee', d.type, d.from, callees, d.attachment, media))
        const { from, type, isGroup, members, attachment } = d
        return this.#emit('invited', { call, from, type, isGroup, members, ...(attachment ? { attachment } : {}) })
      }
      case 'record':
        return this.#emit('record', event.data)
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
        call._connected()
        return this.#emit('userAccept', { call, accid: event.data.accid })
      case 'userReject':
      case 'userBusy':
      case 'userCancel':
        return this.#emit(event.name, { call, accid: event.data.accid })
      case 'callingTimeout':
        return this.#emit('callingTimeout', { call })
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

  #shutDown(error?: RingKitError, reason: 'disconnected' | 'kicked' = 'disconnected'): void {
    clearTimeout(this.#renewTimer)
    this.#endAll(reason)
    this.#connection?.close(error)
    this.#connection = undefined
    this.#login = undefined
  }

  #webSocketClass(): WebSocketConstructor {
    const impl = this.#o.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (!impl) throw new RingKitError('NOT_CONNECTED', 'no WebSocket in this runtime: pass options.WebSocket')
    return impl
  }
}

function checkTimeout(ms: number): number {
  if (!Number.isInteger(ms) || ms < 1000 || ms > MAX_CALL_TIMEOUT_MS) {
    throw new RingKitError('CALL_TIMEOUT_INVALID', `call timeout must be 1000 to ${MAX_CALL_TIMEOUT_MS} ms, got ${ms}`)
  }
  return ms
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

function randomId(): string {
  return globalThis.crypto.randomUUID()
}

function asRingKitError(error: unknown): RingKitError {
  return error instanceof RingKitError ? error : new RingKitError('INTERNAL', String(error), { cause: error })
}
