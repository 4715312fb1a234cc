import type {
  Attachment,
  CallRecord,
  CallType,
  EndReason,
  GroupMember,
  IceServer,
  RingKitError,
} from '@ringkit/protocol'
import type { Call } from './Call.ts'

/** The part of the WebSocket API the SDK uses; browsers' and `ws`'s both fit. */
export interface WebSocketLike {
  readonly readyState: number
  send(data: string): void
  close(code?: number, reason?: string): void
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: { code: number; reason?: string }) => void) | null
  onerror: ((event: unknown) => void) | null
}
export type WebSocketConstructor = new (url: string) => WebSocketLike

export interface RingKitOptions {
  /**
   * The RingKit server, `http(s)://host:port`; behind a load balancer, its URL. Or several servers of
   * one cluster: the device uses the first, and on losing it (or failing to reach it) moves to the next.
   */
  server: string | readonly string[]
  appKey: string
  /** Stable id of this device; one is made up per RingKit instance when left out. */
  deviceId?: string
  /** ICE servers to use instead of those the server hands out at login. */
  iceServers?: IceServer[]
  /** `false` for signaling only (bots, tests, servers): no camera, no microphone, no peer connection. */
  media?: false
  /** For runtimes without WebRTC (Node): e.g. `@roamhq/wrtc`'s RTCPeerConnection. */
  RTCPeerConnection?: new (config: RTCConfiguration) => RTCPeerConnection
  /** For runtimes without `navigator.mediaDevices`: getUserMedia and enumerateDevices. */
  mediaDevices?: Pick<MediaDevices, 'getUserMedia' | 'enumerateDevices'>
  MediaStream?: new (tracks: MediaStreamTrack[]) => MediaStream
  /** `relay` sends all media through TURN. */
  iceTransportPolicy?: RTCIceTransportPolicy
  /** How long a call's media may stay broken, ICE restarts included, before the call ends. Default 15 s. */
  mediaTimeoutMs?: number
  /** For runtimes without a global WebSocket (Node < 22): e.g. the `ws` package's class. */
  WebSocket?: WebSocketConstructor
  /** How long a request waits for its reply before rejecting with REQUEST_TIMEOUT. Default 10 s. */
  requestTimeoutMs?: number
}

export type LoginOptions =
  | { accid: string; token: string }
  /** The SDK asks for a fresh token before the current one expires, and when it reconnects. */
  | { accid: string; tokenProvider: () => Promise<string> }

export interface CallOptions {
  to: string
  type: CallType
  attachment?: Attachment
  /** How long to ring before giving up; defaults to `setCallTimeout`'s value. At most 120 s. */
  timeoutMs?: number
}

export interface GroupCallOptions {
  /** Everyone to ring, up to 24 (3 without Janus on the server). */
  to: string[]
  type: CallType
  attachment?: Attachment
  /** How long each member rings before its ringing gives up. At most 120 s. */
  timeoutMs?: number
}

/** What `login()` resolves with. */
export interface LoginInfo {
  /** The calls this account missed since it last had a device online (each also a `missedCall` event). */
  missedCalls: CallRecord[]
}

/** `serviceWorker`: the app's registration, whose script imports `<server>/ringkit-sw.js`. */
export interface PushOptions {
  serviceWorker: ServiceWorkerRegistration
  /** The language notifications speak; default the browser's. */
  lang?: string
}

export interface HistoryOptions {
  limit?: number
  cursor?: string
}

export type CallRole = 'caller' | 'callee'
/** `calling`: my call rings the other side; `ringing`: a call rings me. */
export type CallStatus = 'calling' | 'ringing' | 'connected' | 'ended'
/** Why a call ended on this device: the server's reasons, plus answered/declined on another of my devices. */
export type LocalEndReason = EndReason | 'answeredElsewhere' | 'rejectedElsewhere'

/** Every event `RingKit` emits, with its payload. `kit.EVENT` names them. */
export interface RingKitEvents {
  invited: { call: Call; from: string; type: CallType; attachment?: Attachment; isGroup: boolean; members: string[] }
  userAccept: { call: Call; accid: string }
  userReject: { call: Call; accid: string }
  userBusy: { call: Call; accid: string }
  userCancel: { call: Call; accid: string }
  /** In a group call, `accid` names the member whose ringing ran out; the call goes on. */
  callingTimeout: { call: Call; accid?: string }
  /** Group calls: where every member stands now (ringing, joined, left, declined, …). */
  membersChange: { call: Call; members: GroupMember[] }
  userEnter: { call: Call; accid: string }
  userLeave: { call: Call; accid: string }
  callEnd: { call: Call; reason: EndReason; by?: string }
  record: CallRecord
  /** At login: a call this account missed while it had no device online, newest first. */
  missedCall: CallRecord
  otherClientAccept: { call: Call; deviceId: string }
  otherClientReject: { call: Call; deviceId: string }
  audioAvailable: { call: Call; accid: string; available: boolean }
  videoAvailable: { call: Call; accid: string; available: boolean }
  callTypeChange: { call: Call; type: CallType; state: 'invite' | 'accept' | 'reject' | 'switched'; by: string }
  networkQuality: { call: Call; accid: string; quality: number }
  volume: { call: Call; accid: string; level: number }
  disconnect: { reason: string }
  /** Signaling is back (`resumed` false: a new session, calls were lost); with `call`, that call's media is back. */
  reconnected: { resumed: boolean; call?: Call }
  kickedOffline: { reason: 'otherLogin' | 'revoked' }
  tokenExpired: Record<string, never>
  error: { error: RingKitError }
}
export type RingKitEventName = keyof RingKitEvents

/** The event names, under the constant names users of other call kits know. */
export const EVENT = {
  INVITED: 'invited',
  USER_ACCEPT: 'userAccept',
  USER_REJECT: 'userReject',
  USER_BUSY: 'userBusy',
  USER_CANCEL: 'userCancel',
  CALLING_TIMEOUT: 'callingTimeout',
  MEMBERS_CHANGE: 'membersChange',
  USER_ENTER: 'userEnter',
  USER_LEAVE: 'userLeave',
  CALL_END: 'callEnd',
  RECORD: 'record',
  MISSED_CALL: 'missedCall',
  OTHER_CLIENT_ACCEPT: 'otherClientAccept',
  OTHER_CLIENT_REJECT: 'otherClientReject',
  AUDIO_AVAILABLE: 'audioAvailable',
  VIDEO_AVAILABLE: 'videoAvailable',
  CALL_TYPE_CHANGE: 'callTypeChange',
  NETWORK_QUALITY: 'networkQuality',
  VOLUME: 'volume',
  DISCONNECT: 'disconnect',
  RECONNECTED: 'reconnected',
  KICKED_OFFLINE: 'kickedOffline',
  TOKEN_EXPIRED: 'tokenExpired',
  ERROR: 'error',
} as const satisfies Record<string, RingKitEventName>

// Every event has a constant: this fails to compile when one is missing.
type MissingConstant = Exclude<RingKitEventName, (typeof EVENT)[keyof typeof EVENT]>
const _everyEventNamed: [MissingConstant] extends [never] ? true : MissingConstant = true
void _everyEventNamed
