import type { Attachment, CallRecord, CallType, EndReason } from './records.ts'
import type { CallMedia, IceServer } from './messages.ts'
import type { SfuServerMessage } from './sfu.ts'

export interface DeviceRef {
  accid: string
  deviceId: string
}

/**
 * Events the server sends to devices, by name. The client SDK re-emits each under the same name,
 * adding the ones it makes itself (connection, media); see `@ringkit/client`.
 */
/**
 * A group call member as the call sees it now: `ringing` (invited, not answered yet), `joined` (in
 * the call), `left` (was in, went), or how its ringing ended.
 */
export interface GroupMember {
  accid: string
  status: 'ringing' | 'joined' | 'left' | 'rejected' | 'busy' | 'missed' | 'canceled'
  /** In the call with the microphone turned off; so a member who joins later knows. */
  micOff?: true
  /** In the call with the camera turned off. */
  cameraOff?: true
}

export interface ServerEvents {
  /** A call rings this device. */
  invited: {
    callId: string
    from: string
    type: CallType
    attachment?: Attachment
    isGroup: boolean
    members: string[]
    /** How the call's media travels, which decides how this device connects once it answers. */
    media: CallMedia
    /** When the server will give up ringing, in server epoch milliseconds. */
    expiresAt: number
    /** STUN/TURN servers for this call, with fresh TURN credentials. */
    iceServers: IceServer[]
  }
  userAccept: { callId: string; accid: string }
  userReject: { callId: string; accid: string }
  userBusy: { callId: string; accid: string }
  userCancel: { callId: string; accid: string }
  /** Nobody answered. In a group call, `accid` names the member whose ringing ran out; the call goes on. */
  callingTimeout: { callId: string; accid?: string }
  /** Group calls: a member left; the call goes on. */
  userLeave: { callId: string; accid: string }
  /** Group calls: where everyone stands, after each change, to the devices in the call. */
  members: { callId: string; members: GroupMember[] }
  /** Group calls through Janus: the media server's offer for the streams this device receives. */
  sfu: { callId: string; data: SfuServerMessage }
  callEnd: { callId: string; reason: EndReason; by?: string }
  record: CallRecord
  otherClientAccept: { callId: string; deviceId: string }
  otherClientReject: { callId: string; deviceId: string }
  audioAvailable: { callId: string; accid: string; available: boolean }
  videoAvailable: { callId: string; accid: string; available: boolean }
  /**
   * `invite`: the other side asks to switch (answer with switchTypeReply); `accept`/`reject`: its answer;
   * `switched`: the call now has this type.
   */
  callTypeChange: { callId: string; type: CallType; state: 'invite' | 'accept' | 'reject' | 'switched'; by: string }
  /** Media negotiation from another device in the call. */
  signal: { callId: string; from: DeviceRef; data: unknown }
  kickedOffline: { reason: 'otherLogin' | 'revoked' }
  tokenExpired: Record<string, never>
}
export type ServerEventName = keyof ServerEvents

export const SERVER_EVENT_NAMES = [
  'invited',
  'userAccept',
  'userReject',
  'userBusy',
  'userCancel',
  'callingTimeout',
  'userLeave',
  'members',
  'sfu',
  'callEnd',
  'record',
  'otherClientAccept',
  'otherClientReject',
  'audioAvailable',
  'videoAvailable',
  'callTypeChange',
  'signal',
  'kickedOffline',
  'tokenExpired',
] as const satisfies readonly ServerEventName[]

/** A named event with its payload, as the engine hands it to delivery. */
export type ServerEvent = { [K in ServerEventName]: { name: K; data: ServerEvents[K] } }[ServerEventName]
