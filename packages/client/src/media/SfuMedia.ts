import {
  RingKitError,
  type CallType,
  type SfuClientMessage,
  type SfuPublishResult,
  type SfuServerMessage,
  type SfuStream,
} from '@ringkit/protocol'
import {
  Outage,
  RESTART_AFTER_MS,
  STATS_EVERY_MS,
  asMediaError,
  openCallDevices,
  networkQuality,
  newConnection,
  showLocal,
  stopAll,
  type MediaEnvironment,
  type MediaEvent,
} from './WebRtcMedia.ts'
import { LocalTracks, sendTrack } from './LocalTracks.ts'
import type { GroupMediaSession } from './types.ts'

export interface SfuMediaContext {
  type: CallType
  me: string
  /** Sends an SFU message through RingKit; resolves with the reply. */
  sfu(message: SfuClientMessage): Promise<SfuPublishResult | Record<string, never>>
  emit(event: MediaEvent): void
  /** The media is dead past repair: end the call. */
  failed(error: RingKitError): void
}

type Target = 'publisher' | 'subscriber'

/** How often to look for a newly listed member's first packets. */
const ARRIVAL_CHECK_MS = 100
type Candidate = Extract<SfuClientMessage, { kind: 'candidate' }>['candidate']

/**
 * A group call's media through the RingKit server's Janus relay, over two connections: the
 * publisher sends this device's camera and microphone, the subscriber receives everyone else's as
 * the server offers them, each stream named by the mid the server maps to a member's accid.
 */
export class SfuMedia implements GroupMediaSession {
  readonly #env: MediaEnvironment
  readonly #ctx: SfuMediaContext
  #local: MediaStream | undefined
  #opening: Promise<void> | undefined
  #publishing: Promise<void> | undefined
  #publisher: RTCPeerConnection | undefined
  #subscriber: RTCPeerConnection | undefined
  /** A connection's candidates wait while its description is on the way to Janus; undefined: they go at once. */
  #held: Record<Target, Candidate[] | undefined> = { publisher: [], subscriber: [] }
  /** Server offers, handled one after the other. */
  #offers: Promise<void> = Promise.resolve()
  /** The streams of the latest offer, by mid. */
  #streams = new Map<string, SfuStream>()
  /** Members whose media came in. */
  #entered = new Set<string>()
  #views: { local?: unknown; remote: Map<string, unknown> } = { remote: new Map() }
  #statsTimer: ReturnType<typeof setInterval> | undefined
  #arrivals: ReturnType<typeof setInterval> | undefined
  #restartTimer: ReturnType<typeof setTimeout> | undefined
  readonly #outage: Outage
  readonly #tracks: LocalTracks
  #closed = false

  constructor(env: MediaEnvironment, ctx: SfuMediaContext) {
    this.#env = env
    this.#ctx = ctx
    this.#outage = new Outage(env, ctx)
    this.#tracks = new LocalTracks(env, {
      type: () => this.#ctx.type,
      stream: () => (this.#closed ? undefined : this.#local),
      // Only the publisher sends; before it exists, publishing takes the stream's tracks as they are.
      send: async (track, stream) => {
        if (this.#publisher) await sendTrack(this.#publisher, track, stream)
      },
      changed: () => this.#showLocal(),
    })
  }

  get publisherConnection(): RTCPeerConnection | undefined {
    return this.#publisher
  }

  get subscriberConnection(): RTCPeerConnection | undefined {
    return this.#subscriber
  }

  get localStream(): MediaStream | undefined {
    return this.#local
  }

  /** The members whose media is in. */
  remoteAccids(): string[] {
    return [...this.#entered]
  }

  open(): Promise<void> {
    this.#opening ??= openCallDevices(this.#env, this.#ctx.type).then((stream) => {
      if (this.#closed) return stopAll(stream)
      this.#local = stream
      this.#showLocal()
    })
    return this.#opening
  }

  /** Opens camera and microphone and publishes them; resolves once Janus answered. */
  publish(): Promise<void> {
    this.#publishing ??= this.open().then(async () => {
      const local = this.#local
      if (this.#closed || !local) return
      const pc = this.#connection('publisher')
      for (const track of local.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [local] })
      await this.#publish()
    })
    return this.#publishing
  }

  /** This device is in the call: publish; what it receives, the server offers. */
  join(): void {
    this.publish().catch((error: unknown) => this.#ctx.emit({ name: 'error', error: asMediaError(error) }))
  }

  start(): void {
    this.join()
  }

  /** The server's next offer leaves the member out. */
  memberLeft(): void {}

  /** Nothing to reveal: a group call's media starts when its member joins. */
  reveal(): void {}

  /** Group media goes through `handleSfu()`; peer signals have no place here. */
  async handleSignal(): Promise<void> {}

  /** A new or updated subscriber offer from the server, answered once the ones before it are. */
  handleSfu(message: SfuServerMessage): Promise<void> {
    this.#offers = this.#offers
      .then(async () => this.#answer(message))
      .catch((error: unknown) => this.#ctx.emit({ name: 'error', error: asMediaError(error) }))
    return this.#offers
  }

  setLocalView(element: unknown): void {
    this.#views.local = element
    this.#showLocal()
  }

  setRemoteView(accid: string, element: unknown): void {
    this.#views.remote.set(accid, element)
    this.#showRemote(accid)
  }

  async enableAudio(enabled: boolean): Promise<void> {
    for (const track of this.#local?.getAudioTracks() ?? []) track.enabled = enabled
  }

  async enableVideo(enabled: boolean): Promise<void> {
    for (const track of this.#local?.getVideoTracks() ?? []) track.enabled = enabled
  }

  /** Moves to the next camera, replacing the sent track without renegotiating. */
  switchCamera(): Promise<void> {
    return this.#tracks.switchCamera()
  }

  useDevice(kind: 'camera' | 'microphone', deviceId: string): Promise<void> {
    return this.#tracks.useDevice(kind, deviceId)
  }

  /** A group call keeps the type it was made with. */
  async setType(type: CallType): Promise<void> {
    if (type !== this.#ctx.type) throw new RingKitError('INVALID_STATE', 'A group call cannot change its type.')
  }

  /** Both connections' reports in one map; on an id both use, the subscriber's wins. */
  async getStats(): Promise<RTCStatsReport | undefined> {
    const reports = await Promise.all([this.#publisher?.getStats(), this.#subscriber?.getStats()])
    if (!reports[0] && !reports[1]) return undefined
    const merged = new Map<string, unknown>()
    for (const report of reports) report?.forEach((value: unknown, id: string) => merged.set(id, value))
    return merged as unknown as RTCStatsReport
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#statsTimer)
    clearInterval(this.#arrivals)
    clearTimeout(this.#restartTimer)
    this.#outage.stop()
    if (this.#local) stopAll(this.#local)
    this.#publisher?.close()
    this.#subscriber?.close()
    for (const accid of this.#entered) this.#ctx.emit({ name: 'userLeave', accid })
    this.#entered.clear()
  }

  /** Sends the publisher's offer (anew for an ICE restart) and applies Janus's answer. */
  async #publish(iceRestart = false): Promise<void> {
    const pc = this.#publisher
    if (!pc || this.#closed) return
    this.#held.publisher ??= []
    const offer = await pc.createOffer(iceRestart ? { iceRestart } : {})
    await pc.setLocalDescription(offer)
    const reply = await this.#ctx.sfu({ kind: 'publish', description: { type: 'offer', sdp: offer.sdp ?? '' } })
    if (!('description' in reply)) throw new RingKitError('MEDIA_FAILED', 'The server sent no answer to the publish.')
    if (this.#closed) return
    await pc.setRemoteDescription(reply.description)
    this.#sendHeld('publisher')
  }

  async #answer(message: SfuServerMessage): Promise<void> {
    if (this.#closed) return
    const pc = this.#subscriber ?? this.#connection('subscriber')
    this.#held.subscriber ??= []
    await pc.setRemoteDescription(message.description)
    const answer = await pc.createAnswer()
    await pc.setLocalDescription(answer)
    this.#streams = new Map(message.streams.map((stream) => [stream.mid, stream]))
    const listed = new Set(message.streams.map((stream) => stream.accid))
    for (const accid of this.#entered) {
      if (listed.has(accid)) continue
      this.#entered.delete(accid)
      this.#ctx.emit({ name: 'userLeave', accid })
    }
    for (const accid of this.#views.remote.keys()) this.#showRemote(accid)
    await this.#ctx.sfu({ kind: 'answer', description: { type: 'answer', sdp: answer.sdp ?? '' } })
    this.#sendHeld('subscriber')
    this.#watchArrivals()
  }

  /**
   * While a member the latest offer lists has sent nothing yet, looks every 100 ms whether its
   * receivers have heard a source, so `userEnter` comes within a tenth of a second of its first
   * media rather than at the next once-a-second sample. Sources are cheap to read; full stats of a
   * connection carrying 24 members' streams are not.
   */
  #watchArrivals(): void {
    if (this.#arrivals || this.#closed) return
    this.#arrivals = setInterval(() => {
      if (this.#closed || [...this.#streams.values()].every((stream) => this.#entered.has(stream.accid))) {
        clearInterval(this.#arrivals)
        this.#arrivals = undefined
        return
      }
      for (const { mid, receiver } of this.#subscriber?.getTransceivers() ?? []) {
        const accid = mid === null ? undefined : this.#streams.get(mid)?.accid
        if (accid && !this.#entered.has(accid) && receiver.getSynchronizationSources().length > 0) this.#enter(accid)
      }
    }, ARRIVAL_CHECK_MS)
  }

  #enter(accid: string): void {
    if (this.#entered.has(accid) || this.#closed) return
    this.#entered.add(accid)
    this.#ctx.emit({ name: 'userEnter', accid })
    this.#showRemote(accid)
  }

  #connection(target: Target): RTCPeerConnection {
    const pc = newConnection(this.#env)
    if (target === 'publisher') this.#publisher = pc
    else this.#subscriber = pc
    pc.onicecandidate = ({ candidate }) => {
      // An empty candidate is a browser's end-of-candidates marker; the null that follows says it.
      if (candidate?.candidate === '') return
      this.#sendCandidate(target, candidate ? asCandidate(candidate) : null)
    }
    pc.oniceconnectionstatechange = () => this.#onIceState(target, pc.iceConnectionState)
    this.#statsTimer ??= setInterval(() => void this.#sampleStats().catch(() => undefined), STATS_EVERY_MS)
    return pc
  }

  #sendCandidate(target: Target, candidate: Candidate): void {
    const held = this.#held[target]
    if (held) held.push(candidate)
    else this.#ctx.sfu({ kind: 'candidate', target, candidate }).catch(() => undefined)
  }

  #sendHeld(target: Target): void {
    const held = this.#held[target] ?? []
    this.#held[target] = undefined
    for (const candidate of held) this.#sendCandidate(target, candidate)
  }

  #onIceState(target: Target, state: RTCIceConnectionState): void {
    if (this.#closed) return
    if (target === 'publisher') {
      clearTimeout(this.#restartTimer)
      // Only the publisher can restart: the subscriber's offer comes from Janus, so the dead timer covers it.
      if (state === 'disconnected' || state === 'failed') {
        this.#restartTimer = setTimeout(() => this.#restartPublisher(), state === 'failed' ? 0 : RESTART_AFTER_MS)
      }
    }
    const states = [this.#publisher?.iceConnectionState, this.#subscriber?.iceConnectionState]
    if (states.some((s) => s === 'disconnected' || s === 'failed')) this.#outage.broken()
    else if (states.every((s) => s === undefined || s === 'connected' || s === 'completed')) this.#outage.healthy()
  }

  #restartPublisher(): void {
    this.#publishing = (this.#publishing ?? Promise.resolve())
      .then(async () => this.#publish(true))
      .catch((error: unknown) => this.#ctx.emit({ name: 'error', error: asMediaError(error) }))
  }

  /** Volume and network quality per member, and who is in: a member is once its first packets arrived. */
  async #sampleStats(): Promise<void> {
    const [sent, received] = await Promise.all([this.#publisher?.getStats(), this.#subscriber?.getStats()])
    if (this.#closed) return
    const members = new Map<string, { lost: number; received: number; level?: number }>()
    let rtt: number | undefined
    received?.forEach((report: Record<string, unknown>) => {
      if (report.type === 'candidate-pair' && report.nominated && typeof report.currentRoundTripTime === 'number') {
        rtt = report.currentRoundTripTime
      }
      const stream = report.type === 'inbound-rtp' ? this.#streams.get(String(report.mid)) : undefined
      if (!stream) return
      const member = members.get(stream.accid) ?? { lost: 0, received: 0 }
      member.lost += Number(report.packetsLost ?? 0)
      member.received += Number(report.packetsReceived ?? 0)
      if (stream.kind === 'audio' && typeof report.audioLevel === 'number') member.level = report.audioLevel
      members.set(stream.accid, member)
    })
    sent?.forEach((report: Record<string, unknown>) => {
      if (report.type === 'media-source' && report.kind === 'audio' && typeof report.audioLevel === 'number') {
        this.#ctx.emit({ name: 'volume', accid: this.#ctx.me, level: report.audioLevel })
      }
    })
    for (const [accid, { lost, received: packets, level }] of members) {
      if (packets === 0) continue
      this.#enter(accid)
      if (level !== undefined) this.#ctx.emit({ name: 'volume', accid, level })
      this.#ctx.emit({
        name: 'networkQuality',
        accid,
        quality: networkQuality(rtt, lost / Math.max(1, lost + packets)),
      })
    }
  }

  #showLocal(): void {
    showLocal(this.#views.local, this.#local)
  }

  /** The member's view shows its tracks of the latest offer, or nothing once it left. */
  #showRemote(accid: string): void {
    const view = this.#views.remote.get(accid) as { srcObject?: unknown } | undefined
    const Stream = this.#env.MediaStream
    if (!view || !Stream) return
    const tracks = (this.#subscriber?.getTransceivers() ?? []).flatMap((transceiver) =>
      transceiver.mid !== null && this.#streams.get(transceiver.mid)?.accid === accid
        ? [transceiver.receiver.track]
        : [],
    )
    // Reassigning the same tracks would restart the picture (a black flash on every offer).
    const shown = (view.srcObject as MediaStream | null | undefined)?.getTracks() ?? []
    if (shown.length === tracks.length && shown.every((track, i) => track === tracks[i])) return
    view.srcObject = tracks.length > 0 ? new Stream(tracks) : null
  }
}

/** Only the fields the protocol carries: runtimes add their own (address, port, …) that the server refuses. */
function asCandidate(candidate: RTCIceCandidate): Candidate {
  return {
    candidate: candidate.candidate,
    sdpMid: candidate.sdpMid ?? null,
    sdpMLineIndex: candidate.sdpMLineIndex ?? null,
    ...(candidate.usernameFragment ? { usernameFragment: candidate.usernameFragment } : {}),
  }
}
