import { MAX_GROUP_MEMBERS, MAX_MESH_MEMBERS } from './messages.ts'
import { MAX_ATTACHMENT_BYTES } from './records.ts'

/**
 * The one catalog of RingKit error codes. Every error a user can see — a REST response, a
 * signaling reply, a rejected SDK promise — carries one of these codes. The text is the
 * documentation: the README table is generated from it and a test keeps them in step.
 */
export const ERROR_CODES = {
  // Frames and requests
  BAD_FRAME: 'The frame is not a JSON object.',
  FRAME_TOO_LARGE: 'The frame is larger than the server accepts.',
  UNKNOWN_TYPE: 'The message type is not one the server knows.',
  INVALID_PARAMS: 'A field is missing or has the wrong type or range.',
  RATE_LIMITED: 'Too many requests of this kind; slow down and retry.',
  INTERNAL: 'The server failed unexpectedly; the request may be retried.',
  CLUSTER_UNAVAILABLE: "The nodes' shared state (Redis) did not answer in time; retry in a moment.",
  REQUEST_TOO_SLOW: 'The HTTP request did not arrive in time (its headers and body: 10 seconds by default).',
  STORE_UNAVAILABLE: 'The server cannot reach its database (PostgreSQL) at the moment; retry shortly.',
  // Sessions and tokens
  NOT_LOGGED_IN: 'Log in before sending this request.',
  ALREADY_LOGGED_IN: 'This connection is already logged in.',
  TOKEN_INVALID: 'The token is malformed, badly signed or for another app or account.',
  TOKEN_EXPIRED: 'The token has expired.',
  TOKEN_REVOKED: "The account's tokens were revoked.",
  KICKED_OFFLINE: 'This device was logged out by a login elsewhere or by a revocation.',
  TOO_MANY_DEVICES: 'This account has as many devices logged in as the server allows; log one out first.',
  TOO_MANY_CONNECTIONS: 'This address holds as many connections as the server allows; close one first.',
  SERVER_DRAINING: 'This server is shutting down and takes no new logins or calls; retry on another server.',
  // REST authentication
  AUTH_MISSING: 'A required header (AppKey, Nonce, CurTime, CheckSum) is missing or malformed.',
  APP_NOT_FOUND: 'No app has this AppKey.',
  CHECKSUM_INVALID: 'The CheckSum does not match SHA-1(appSecret + Nonce + CurTime).',
  CURTIME_EXPIRED: 'CurTime is more than 300 seconds from the server clock.',
  NONCE_REUSED: 'This Nonce or CheckSum was already used within the 300 second window.',
  NOT_FOUND: 'No such resource.',
  // Accounts
  ACCOUNT_NOT_FOUND: 'No account has this accid in the app.',
  ACCOUNT_EXISTS: 'An account with this accid already exists.',
  // Webhooks
  WEBHOOK_NOT_FOUND: 'No webhook endpoint of this app has this id.',
  EVENT_NOT_FOUND: 'No webhook event of this app has this id (events are kept 3 days).',
  TOO_MANY_WEBHOOKS: 'The app has as many webhook endpoints as the server allows; remove one first.',
  WEBHOOK_URL_REFUSED: 'The webhook URL is not an http(s) URL, or it is on a private network this server refuses.',
  // Calls
  CALL_SELF: 'An account cannot call itself.',
  CALLEE_OFFLINE: 'The callee has no device online.',
  CALLER_BUSY: 'This account is already in a call.',
  DECLINED_RECENTLY: 'The callee declined a call from this account moments ago; try again later.',
  CALL_NOT_FOUND: 'No live call has this callId.',
  NOT_IN_CALL: 'This device is not a party to the call.',
  INVALID_STATE: 'The call is not in a state that allows this action.',
  CALL_TIMEOUT_INVALID: 'The call timeout must be between 1 and 120 seconds.',
  SWITCH_PENDING: 'A call type switch is already waiting for an answer.',
  SWITCH_REJECTED: 'The other side declined the call type switch.',
  NOT_VIDEO_CALL: 'This action is for video calls only: switch the call to video first.',
  ATTACHMENT_TOO_LARGE: `A call's attachment is limited to ${MAX_ATTACHMENT_BYTES} bytes of JSON.`,
  // Group calls
  SFU_UNAVAILABLE: 'No Janus media server answered: check that Janus runs and its URL and api_secret.',
  SFU_REQUIRED: `Group calls of more than ${MAX_MESH_MEMBERS} people need a Janus media server: start the server with --janus ws://host:8188.`,
  GROUP_TOO_LARGE: `A group call holds at most ${MAX_GROUP_MEMBERS} people, the caller included.`,
  NOT_GROUP_CALL: 'This action is for group calls only.',
  // Media (client side)
  MEDIA_PERMISSION_DENIED: 'Camera or microphone access was denied; allow it in the browser or system settings.',
  MEDIA_DEVICE_NOT_FOUND: 'No camera or microphone was found.',
  MEDIA_DEVICE_IN_USE: 'The camera or microphone is in use by another program.',
  MEDIA_UNAVAILABLE: 'This runtime has no WebRTC: pass RTCPeerConnection and mediaDevices, or media: false.',
  MEDIA_FAILED: 'Setting up audio or video failed.',
  ICE_FAILED: 'The media connection failed and could not be restored.',
  // Client side
  NOT_CONNECTED: 'The client is not connected to the server.',
  CONNECTION_LOST: 'The connection dropped and the session could not be resumed.',
  REQUEST_TIMEOUT: 'The server did not answer in time.',
} as const

export type ErrorCode = keyof typeof ERROR_CODES

/** Codes a caller may retry unchanged after a pause. */
export const RETRYABLE_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'RATE_LIMITED',
  'INTERNAL',
  'CLUSTER_UNAVAILABLE',
  'STORE_UNAVAILABLE',
  'NOT_CONNECTED',
  'REQUEST_TIMEOUT',
  'SERVER_DRAINING',
])

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value)
}

export interface ErrorBody {
  code: ErrorCode
  message: string
}

/** The error every RingKit API rejects with. `code` is stable; `message` is for people. */
export class RingKitError extends Error {
  override readonly name = 'RingKitError'
  readonly code: ErrorCode
  readonly retryable: boolean

  constructor(code: ErrorCode, message: string = ERROR_CODES[code], options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.retryable = RETRYABLE_CODES.has(code)
  }

  toJSON(): ErrorBody {
    return { code: this.code, message: this.message }
  }
}
