import type {
  Attachment,
  CallMedia,
  CallType,
  DeviceRef,
  EndReason,
  ErrorCode,
  MemberStatus,
  ServerEvent,
} from '@ringkit/protocol'

/** How one callee stands in a live call. */
export type LiveMemberStatus = 'ringing' | MemberStatus

export interface Member {
  accid: string
  status: LiveMemberStatus
  joinedAt?: number
  /** Set while a joined member is out of the call (it left); cleared when it joins again. */
  leftAt?: number
  /** Group calls: the device that carries this member while it is in the call. */
  device?: DeviceRef
  /** Group calls: when this member's ringing gives up (members invited later ring later). */
  expiresAt?: number
  /** Group calls: what this member turned off while in the call. */
  off?: MediaOff
}

export interface MediaOff {
  audio?: boolean
  video?: boolean
}

export interface CallBase {
  callId: string
  appKey: string
  type: CallType
  caller: DeviceRef
  callees: string[]
  isGroup: boolean
  attachment?: Attachment
  createdAt: number
  /** When ringing gives up, epoch ms. */
  expiresAt: number
  members: Member[]
  /** How the media travels; 1:1 calls are always `p2p`. */
  media: CallMedia
  /** Group calls: when the caller left the call, while it is out. */
  callerLeftAt?: number
  /** Group calls: what the caller turned off while in the call. */
  callerOff?: MediaOff
}

/** The whole life of a call: one union, changed only by `transition`. */
export type CallState =
  | (CallBase & { phase: 'ringing' })
  | (CallBase & {
      phase: 'active'
      connectedAt: number
      answeredBy: DeviceRef
      pendingSwitch?: { type: CallType; by: string }
    })
  | (CallBase & { phase: 'ended'; reason: EndReason; by?: string; connectedAt?: number; endedAt: number })

export type CallPhase = CallState['phase']

/** Everything that can happen to a call after it starts ringing. */
export type CallInput =
  | { kind: 'accept'; by: DeviceRef }
  | { kind: 'reject'; by: DeviceRef }
  | { kind: 'cancel'; by: DeviceRef }
  | { kind: 'hangup'; by: DeviceRef; failed?: boolean }
  | { kind: 'timeout' }
  /** A device of a party went away for good (grace period over, logout, kick). */
  | { kind: 'deviceLost'; device: DeviceRef; reason: 'disconnected' | 'kicked' }
  /** The server restarted while the call was live. */
  | { kind: 'interrupt' }
  | { kind: 'switchType'; by: DeviceRef; type: CallType }
  | { kind: 'switchTypeReply'; by: DeviceRef; accept: boolean }
  | { kind: 'mediaState'; by: DeviceRef; audio?: boolean; video?: boolean }
  /** Group calls: `ringing` were claimed for this call and ring until `expiresAt`; `busy` are in another call. */
  | { kind: 'invite'; by: DeviceRef; ringing: string[]; busy: string[]; expiresAt: number }
  | { kind: 'join'; by: DeviceRef }
  | { kind: 'leave'; by: DeviceRef }
  /** Group calls: the media server carrying the call went away. */
  | { kind: 'mediaServerLost' }

/** Who an event goes to. `account` reaches every online device of it, but `exceptDevice`. */
export type Audience = { account: string; exceptDevice?: string } | { device: DeviceRef }

export type Effect = { kind: 'send'; to: Audience; event: ServerEvent }

export type TransitionResult =
  { ok: true; state: CallState; effects: Effect[] } | { ok: false; code: ErrorCode; message: string }
