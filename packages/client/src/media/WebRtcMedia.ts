import { z } from 'zod'
import { RingKitError, type CallType, type DeviceRef } from '@ringkit/protocol'
import { LocalTracks, sendTrack } from './LocalTracks.ts'
import type { MediaSession } from './types.ts'

/** The WebRTC pieces the media layer uses: the browser's, or injected ones (e.g. @roamhq/wrtc in Node). */
export interface MediaEnvironment {
  RTCPeerConnection: new (config: RTCConfiguration) => RTCPeerConnection
  mediaDevices: Pick<MediaDevices, 'getUserMedia' | 'enumerateDevices'>
  /** Wraps tracks for a view; browsers have MediaStream, Node has none to show. */
  MediaStream?: new (tracks: MediaStreamTrack[]) => MediaStream
  iceServers: RTCIceServer[]
  iceTransportPolicy?: RTCIceTransportPolicy
  /** How long media may stay broken, ICE restarts included, before the call ends. Default 15 s. */
  deadAfterMs?: number
  /** The devices the user chose; unset means the system default. */
  devices?: () => { camera?: string | undefined; microphone?: string | undefined }
}

export type MediaEvent =
  | { name: 'userEnter' | 'userLeave'; accid: string }
  | { name: 'volume'; accid: string; level: number }
  | { name: 'networkQuality'; accid: string; quality: number }
  | { name: 'mediaRestored' }
  | { name: 'error'; error: RingKitError }

export interface MediaCallContext {
  role: 'caller' | 'callee'
  type: CallType
  me: string
  /** Sends negotiation data to the call's other device(s); to one device when `to` is set. */
  signal(data: MediaSignal, to?: DeviceRef): Promise<void>
  emit(event: MediaEvent): void
  /** The connection is dead past repair: end the call. */
  failed(error: RingKitError): void
  /**
   * Camera and microphone shared with other connections (a group mesh): used instead of opening
   * them, never stopped here, and the owner replaces its tracks.
   */
  local?: Promise<MediaStream>
}

const descriptionSchema = z.object({
  type: z.enum(['offer', 'answer', 'pranswer', 'rollback']),
  sdp: z.string().max(60_000).optional(),
})
const candidateSchema = z.object({
  candidate: z.string().max(2000).optional(),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(64).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
})
/** What peers exchange through the `signal` relay. Validated on arrival: a peer is not trusted. */
export const mediaSignalSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('description'), description: descriptionSchema }),
  z.object({ kind: z.literal('candidate'), candidate: candidateSchema }),
])
export type MediaSignal = z.infer<typeof mediaSignalSchema>

const DEAD_AFTER_MS = 15_000
/** A `disconnected` ICE state lasting this long gets an ICE restart. */
export const RESTART_AFTER_MS = 2_000
export const STATS_EVERY_MS = 1_000

/**
 * One call's media over one RTCPeerConnection, with perfect negotiation (the callee is polite).
 * The caller's offer travels while the callee's devices ring; a ringing device opens its camera and
 * builds its answer, but sends nothing — no answer, no candidate — until its user accepts.
 */
export class WebRtcMedia implements MediaSession {
  readonly #env: MediaEnvironment
  readonly #ctx: MediaCallContext
  readonly #polite: boolean
  #type: CallType
  #pc: RTCPeerConnection | undefined
  #local: MediaStream | undefined
  #opening: Promise<void> | undefined
  #revealed: boolean
  #heldOut: MediaSignal[] = []
  #heldIn: RTCIceCandidateInit[] = []
  #makingOffer = false
  #ignoreOffer = false
  #peer: DeviceRef | undefined
  #entered = false
  #closed = false
  #views: { local?: unknown; remote?: unknown } = {}
  #remoteTracks: MediaStreamTrack[] = []
  #statsTimer: ReturnType<typeof setInterval> | undefined
  #restartTimer: ReturnType<typeof setTimeout> | undefined
  readonly #outage: Outage
  readonly #tracks: LocalTracks

  constructor(env: MediaEnvironment, ctx: MediaCallContext) {
    this.#env = env
    this.#ctx = ctx
    this.#type = ctx.type
    this.#polite = ctx.role === 'callee'
    this.#revealed = ctx.role === 'caller'
    this.#outage = new Outage(env, ctx)
    this.#tracks = new LocalTracks(env, {
      type: () => this.#type,
      stream: () => (this.#closed ? undefined : this.#local),
      send: (track) => this.replaceSentTrack(track),
      changed: () => this.#showLocal(),
    })
  }

  /** The peer connection, for stats and tests. */
  get peerConnection(): RTCPeerConnection | undefined {
    return this.#pc
  }

  get localStream(): MediaStream | undefined {
    return this.#local
  }

  async getStats(): Promise<RTCStatsReport | undefined> {
    return this.#pc?.getStats()
  }

  open(): Promise<void> {
    const shared = this.#ctx.local
    this.#opening ??= (shared ?? openCallDevices(this.#env, this.#type)).then((stream) => {
      if (this.#closed) return shared ? undefined : stopAll(stream)
      this.#local = stream
      this.#showLocal()
    })
    return this.#opening
  }

  start(): void {
    void this.open()
      .then(() => this.#connection())
      .catch((error: unknown) => this.#ctx.emit({ name: 'error', error: asMediaError(error) }))
  }

  reveal(): void {
    if (this.#revealed) return
    this.#revealed = true
    const held = this.#heldOut
    this.#heldOut = []
    for (const signal of held) this.#send(signal)
    void this.#drainCandidates()
  }

  async handleSignal(from: DeviceRef, data: unknown): Promise<void> {
    if (this.#closed) return
    const parsed = mediaSignalSchema.safeParse(data)
    if (!parsed.success) return
    const signal = parsed.data
    // The first device to answer is the call's other side; the rest are ignored.
    if (this.#peer && (from.accid !== this.#peer.accid || from.deviceId !== this.#peer.deviceId)) return
    if (signal.kind === 'candidate') {
      this.#heldIn.push(signal.candidate)
      return this.#drainCandidates()
    }
    await this.#onDescription(from, signal.description as RTCSessionDescriptionInit)
  }

  setLocalView(element: unknown): void {
    this.#views.local = element
    this.#showLocal()
  }

  setRemoteView(_accid: string, element: unknown): void {
    this.#views.remote = element
    this.#showRemote()
  }

  async enableAudio(enabled: boolean): Promise<void> {
    for (const track of this.#local?.getAudioTracks() ?? []) track.enabled = enabled
  }

  async enableVideo(enabled: boolean): Promise<void> {
    for (const track of this.#local?.getVideoTracks() ?? []) track.enabled = enabled
  }

  /** Moves to the next camera without renegotiating; an audio call refuses with NOT_VIDEO_CALL. */
  switchCamera(): Promise<void> {
    return this.#tracks.switchCamera()
  }

  async setType(type: CallType): Promise<void> {
    if (type === this.#type) return
    this.#type = type
    if (type === 'audio') {
      for (const track of this.#local?.getVideoTracks() ?? []) {
        track.stop()
        this.#local?.removeTrack(track)
      }
      // The video sender stays, sending nothing: turning video back on is a replaceTrack, no renegotiation.
      for (const sender of this.#pc?.getSenders() ?? [])
        if (sender.track?.kind === 'video') await sender.replaceTrack(null)
      return
    }
    await this.#tracks.startCamera()
  }

  /** Moves the call to the chosen camera or microphone now. */
  useDevice(kind: 'camera' | 'microphone', deviceId: string): Promise<void> {
    return this.#tracks.useDevice(kind, deviceId)
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    clearInterval(this.#statsTimer)
    clearTimeout(this.#restartTimer)
    this.#outage.stop()
    if (this.#local && !this.#ctx.local) stopAll(this.#local)
    this.#pc?.close()
    if (this.#entered && this.#peer) this.#ctx.emit({ name: 'userLeave', accid: this.#peer.accid })
  }

  #connection(): RTCPeerConnection {
    if (this.#pc) return this.#pc
    const pc = newConnection(this.#env)
    this.#pc = pc
    pc.onnegotiationneeded = () => void this.#offer()
    pc.onicecandidate = ({ candidate }) => {
      if (!candidate) return
      const init = candidate.toJSON ? candidate.toJSON() : (candidate as RTCIceCandidateInit)
      this.#send({ kind: 'candidate', candidate: init })
    }
    pc.ontrack = ({ track }) => {
      this.#remoteTracks = [...this.#remoteTracks.filter((t) => t.kind !== track.kind), track]
      this.#showRemote()
    }
    pc.oniceconnectionstatechange = () => this.#onIceState(pc.iceConnectionState)
    for (const track of this.#local?.getTracks() ?? []) pc.addTrack(track, this.#local!)
    return pc
  }

  async #offer(): Promise<void> {
    const pc = this.#pc
    if (!pc || this.#closed) return
    try {
      this.#makingOffer = true
      if (!(await setLocal(pc, 'offer'))) return
      if (pc.localDescription) this.#send({ kind: 'description', description: pc.localDescription.toJSON() })
    } catch (error) {
      this.#ctx.emit({ name: 'error', error: asMediaError(error) })
    } finally {
      this.#makingOffer = false
    }
  }

  async #onDescription(from: DeviceRef, description: RTCSessionDescriptionInit): Promise<void> {
    if (description.type === 'answer' && !this.#peer) this.#peer = from
    if (this.#polite && !this.#peer) this.#peer = from
    if (this.#ctx.role === 'callee') {
      // Ringing: open camera and microphone now, so that accepting has nothing left to wait for.
      await this.open().catch((error: unknown) => this.#ctx.emit({ name: 'error', error: asMediaError(error) }))
    }
    if (!this.#revealed && description.sdp) {
      // An offer may carry the caller's candidates inline; they wait with the trickled ones.
      const { sdp, candidates } = splitCandidates(description.sdp)
      description = { ...description, sdp }
      this.#heldIn.push(...candidates)
    }
    const pc = this.#connection()
    const collision = description.type === 'offer' && (this.#makingOffer || pc.signalingState !== 'stable')
    this.#ignoreOffer = !this.#polite && collision
    if (this.#ignoreOffer) return
    try {
      await pc.setRemoteDescription(description)
      if (description.type === 'offer') {
        await setLocal(pc, 'answer')
        if (pc.localDescription) this.#send({ kind: 'description', description: pc.localDescription.toJSON() })
      }
    } catch (error) {
      this.#ctx.emit({ name: 'error', error: asMediaError(error) })
    }
    await this.#drainCandidates()
  }

  async #drainCandidates(): Promise<void> {
    const pc = this.#pc
    // Before the user accepts, the caller's candidates wait: adding them would start ICE checks
    // and tell the caller where this device is.
    if (!pc || !this.#revealed || !pc.remoteDescription) return
    const candidates = this.#heldIn
    this.#heldIn = []
    for (const candidate of candidates) {
      await pc.addIceCandidate(candidate).catch((error: unknown) => {
        if (!this.#ignoreOffer) this.#ctx.emit({ name: 'error', error: asMediaError(error) })
      })
    }
  }

  #send(signal: MediaSignal): void {
    if (!this.#revealed) {
      this.#heldOut.push(signal)
      return
    }
    this.#ctx.signal(signal).catch(() => {
      // The call may have ended meanwhile; the call's own events say so.
    })
  }

  #onIceState(state: RTCIceConnectionState): void {
    if (this.#closed) return
    if (state === 'connected' || state === 'completed') {
      clearTimeout(this.#restartTimer)
      if (!this.#entered && this.#peer) {
        this.#entered = true
        this.#ctx.emit({ name: 'userEnter', accid: this.#peer.accid })
        this.#statsTimer = setInterval(() => void this.#sampleStats(), STATS_EVERY_MS)
      }
      this.#outage.healthy()
      return
    }
    if (state === 'disconnected' || state === 'failed') {
      clearTimeout(this.#restartTimer)
      this.#restartTimer = setTimeout(() => this.#pc?.restartIce(), state === 'failed' ? 0 : RESTART_AFTER_MS)
      this.#outage.broken()
    }
  }

  async #sampleStats(): Promise<void> {
    const pc = this.#pc
    const peer = this.#peer
    if (!pc || !peer || this.#closed) return
    const stats = await pc.getStats()
    let rtt: number | undefined
    let lost = 0
    let received = 0
    stats.forEach((report: Record<string, unknown>) => {
      if (report.type === 'inbound-rtp' && report.kind === 'audio' && typeof report.audioLevel === 'number') {
        this.#ctx.emit({ name: 'volume', accid: peer.accid, level: report.audioLevel })
      }
      if (report.type === 'media-source' && report.kind === 'audio' && typeof report.audioLevel === 'number') {
        this.#ctx.emit({ name: 'volume', accid: this.#ctx.me, level: report.audioLevel })
      }
      if (report.type === 'inbound-rtp') {
        lost += Number(report.packetsLost ?? 0)
        received += Number(report.packetsReceived ?? 0)
      }
      if (report.type === 'candidate-pair' && report.nominated && typeof report.currentRoundTripTime === 'number') {
        rtt = report.currentRoundTripTime
      }
    })
    this.#ctx.emit({
      name: 'networkQuality',
      accid: peer.accid,
      quality: networkQuality(rtt, lost / Math.max(1, lost + received)),
    })
  }

  /** Sends `track` instead of the one of its kind now sent, without touching the local stream. */
  async replaceSentTrack(track: MediaStreamTrack): Promise<void> {
    const pc = this.#pc
    if (pc && this.#local) await sendTrack(pc, track, this.#local)
  }

  #showLocal(): void {
    showLocal(this.#views.local, this.#local)
  }

  #showRemote(): void {
    const view = this.#views.remote as { srcObject?: unknown } | undefined
    const Stream = this.#env.MediaStream
    if (!view || !Stream || this.#remoteTracks.length === 0) return
    view.srcObject = new Stream(this.#remoteTracks)
  }
}

/**
 * A call's media outage, shared by every kind of media: broken for longer than `deadAfterMs`
 * (default 15 s) it fails the call with ICE_FAILED; repaired in time, it says `mediaRestored`.
 */
export class Outage {
  readonly #env: Pick<MediaEnvironment, 'deadAfterMs'>
  readonly #ctx: Pick<MediaCallContext, 'emit' | 'failed'>
  #deadTimer: ReturnType<typeof setTimeout> | undefined
  #broken = false

  constructor(env: Pick<MediaEnvironment, 'deadAfterMs'>, ctx: Pick<MediaCallContext, 'emit' | 'failed'>) {
    this.#env = env
    this.#ctx = ctx
  }

  broken(): void {
    this.#broken = true
    this.#deadTimer ??= setTimeout(
      () => this.#ctx.failed(new RingKitError('ICE_FAILED', 'the media connection failed and could not be restored')),
      this.#env.deadAfterMs ?? DEAD_AFTER_MS,
    )
  }

  healthy(): void {
    this.stop()
    if (!this.#broken) return
    this.#broken = false
    this.#ctx.emit({ name: 'mediaRestored' })
  }

  stop(): void {
    clearTimeout(this.#deadTimer)
    this.#deadTimer = undefined
  }
}

/** The camera after the `index`th, or undefined with fewer than two cameras. */
export async function nextCamera(
  env: MediaEnvironment,
  index: number,
): Promise<{ index: number; deviceId: string } | undefined> {
  const cameras = (await env.mediaDevices.enumerateDevices()).filter((d) => d.kind === 'videoinput')
  if (cameras.length < 2) return undefined
  const next = (index + 1) % cameras.length
  return { index: next, deviceId: cameras[next]!.deviceId }
}

/** getUserMedia, its failures turned into codes users can act on. */
export async function openDevices(env: MediaEnvironment, constraints: MediaStreamConstraints): Promise<MediaStream> {
  try {
    return await env.mediaDevices.getUserMedia(constraints)
  } catch (error) {
    throw asMediaError(error)
  }
}

/** A peer connection with the call's ICE servers (and relay-only policy, when set). */
export function newConnection(env: MediaEnvironment): RTCPeerConnection {
  const { iceServers, iceTransportPolicy } = env
  return new env.RTCPeerConnection({ iceServers, ...(iceTransportPolicy ? { iceTransportPolicy } : {}) })
}

/** The chosen microphone, and for a video call the chosen camera, as a call opens them. */
export function openCallDevices(env: MediaEnvironment, type: CallType): Promise<MediaStream> {
  return openDevices(env, { audio: chosen(env, 'microphone'), video: type === 'video' && chosen(env, 'camera') })
}

/** The camera or microphone the user chose, or whichever the system gives. */
export function chosen(env: MediaEnvironment, kind: 'camera' | 'microphone'): MediaTrackConstraints | true {
  const id = env.devices?.()[kind]
  return id ? { deviceId: { exact: id } } : true
}

/** Shows this device's own camera in `view`, muted: its own microphone must never play back. */
export function showLocal(view: unknown, stream: MediaStream | undefined): void {
  const video = view as { srcObject?: unknown; muted?: boolean } | undefined
  if (!video || !stream) return
  video.muted = true
  video.srcObject = stream
}

/** 1 (excellent) to 5 (very bad), from round-trip time and loss; 0 when unknown. */
export function networkQuality(rttSeconds: number | undefined, lossRatio: number): number {
  if (rttSeconds === undefined) return 0
  const rttMs = rttSeconds * 1000
  if (lossRatio > 0.2 || rttMs > 800) return 5
  if (lossRatio > 0.1 || rttMs > 400) return 4
  if (lossRatio > 0.05 || rttMs > 250) return 3
  if (lossRatio > 0.01 || rttMs > 100) return 2
  return 1
}

/** Maps getUserMedia and WebRTC failures to codes users can act on. */
export function asMediaError(error: unknown): RingKitError {
  if (error instanceof RingKitError) return error
  const name = (error as { name?: string } | undefined)?.name
  const message = (error as { message?: string } | undefined)?.message ?? String(error)
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new RingKitError('MEDIA_PERMISSION_DENIED', undefined, { cause: error })
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new RingKitError('MEDIA_DEVICE_NOT_FOUND', undefined, { cause: error })
    case 'NotReadableError':
    case 'AbortError':
      return new RingKitError('MEDIA_DEVICE_IN_USE', undefined, { cause: error })
  }
  return new RingKitError('MEDIA_FAILED', message, { cause: error })
}

/** Takes `a=candidate` lines out of an SDP, as trickle candidates with their m-section's mid. */
export function splitCandidates(sdp: string): { sdp: string; candidates: RTCIceCandidateInit[] } {
  const candidates: RTCIceCandidateInit[] = []
  let mid: string | null = null
  let index = -1
  const kept = sdp.split('\r\n').filter((line) => {
    if (line.startsWith('m=')) {
      index++
      mid = null
    } else if (line.startsWith('a=mid:')) {
      mid = line.slice('a=mid:'.length)
    } else if (line.startsWith('a=candidate:')) {
      candidates.push({ candidate: line.slice(2), sdpMid: mid, sdpMLineIndex: index })
      return false
    } else if (line === 'a=end-of-candidates') {
      return false
    }
    return true
  })
  return { sdp: kept.join('\r\n'), candidates }
}

/** `setLocalDescription()` without arguments, for runtimes (wrtc) that need the description passed. */
async function setLocal(pc: RTCPeerConnection, type: 'offer' | 'answer'): Promise<boolean> {
  const description = type === 'offer' ? await pc.createOffer() : await pc.createAnswer()
  // Perfect negotiation: a remote offer may have arrived while this one was being made.
  if (type === 'offer' && pc.signalingState !== 'stable') return false
  await pc.setLocalDescription(description)
  return true
}

export function stopAll(stream: MediaStream): void {
  for (const track of stream.getTracks()) track.stop()
}
