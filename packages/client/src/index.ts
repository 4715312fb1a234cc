export { RingKit } from './RingKit.ts'
export { Call } from './Call.ts'
export { Emitter } from './Emitter.ts'
export { EVENT } from './types.ts'
export { takeCallFromNotification, CALL_PARAMETER } from './push.ts'
export type {
  RingKitOptions,
  RingKitEvents,
  RingKitEventName,
  LoginOptions,
  LoginInfo,
  PushOptions,
  CallOptions,
  GroupCallOptions,
  HistoryOptions,
  CallRole,
  CallStatus,
  LocalEndReason,
  WebSocketLike,
  WebSocketConstructor,
} from './types.ts'
export type { MediaSession, GroupMediaSession } from './media/types.ts'
export { WebRtcMedia, networkQuality, type MediaEnvironment, type MediaSignal } from './media/WebRtcMedia.ts'
export {
  RingKitError,
  ERROR_CODES,
  RECORD_STATUS,
  missedBy,
  type ErrorCode,
  type CallRecord,
  type CallType,
  type GroupMember,
} from '@ringkit/protocol'
