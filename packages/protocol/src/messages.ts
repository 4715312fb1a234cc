import { z } from 'zod'
import { callAttachmentSchema, callRecordSchema, callTypeSchema, type Attachment, type CallType } from './records.ts'
import type { ErrorBody } from './errors.ts'
import type { GroupMember } from './events.ts'
import { sfuClientMessageSchema, type SfuPublishResult } from './sfu.ts'

/** Largest frame, in bytes, the server reads. SDP with many candidates fits well below it. */
export const MAX_FRAME_BYTES = 64 * 1024
/** Deepest nesting of objects and arrays in a frame, the frame itself counting as 1. */
export const MAX_FRAME_DEPTH = 64
/** Longest call timeout a caller may ask for. */
export const MAX_CALL_TIMEOUT_MS = 120_000
export const DEFAULT_CALL_TIMEOUT_MS = 30_000
/** Most people in one group call, the caller included, when a Janus media server carries it. */
export const MAX_GROUP_MEMBERS = 25
/** Most people in one group call without Janus: each sends its media to every other one (a mesh). */
export const MAX_MESH_MEMBERS = 4
/**
 * The close code of a device that is gone for good but did not log out (its page closed): the
 * server ends its session at once, without waiting for a resume, and push rings it from then on.
 */
export const CLOSE_PAGE_CLOSED = 4000
/** Most calls a resuming device names as held: one at a time per account, with room for races. */
export const MAX_HELD_CALLS = 16

export const accidSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.@-]+$/, 'letters, digits and _ . @ - only')
export const deviceIdSchema = z.string().min(1).max(64)
const requestId = z.string().min(1).max(64)
const callId = z.string().min(1).max(64)

const request = <T extends string, S extends z.ZodRawShape>(type: T, shape: S) =>
  z.strictObject({ type: z.literal(type), id: requestId, ...shape })

/** Every client → server message. Each carries an `id` that its reply echoes. */
export const clientMessageSchema = z.discriminatedUnion('type', [
  request('login', {
    appKey: z.string().min(1).max(64),
    accid: accidSchema,
    token: z.string().min(1).max(4096),
    deviceId: deviceIdSchema,
    /**
     * Reattach to a session whose socket dropped, replaying what the device missed. `calls`: the
     * calls the device holds, so that one that ended out of its sight is ended for it.
     */
    resume: z
      .strictObject({
        sessionId: z.string().max(64),
        lastSeq: z.number().int().min(0),
        calls: z.array(callId).max(MAX_HELD_CALLS).optional(),
      })
      .optional(),
  }),
  request('renew', { token: z.string().min(1).max(4096) }),
  /** `keepPush`: the device goes away but is still rung through its push subscription (its page closed). */
  request('logout', { keepPush: z.boolean().optional() }),
  request('ping', { ack: z.number().int().min(0).optional() }),
  request('call', {
    to: z.array(accidSchema).min(1).max(MAX_GROUP_MEMBERS),
    callType: callTypeSchema,
    attachment: callAttachmentSchema.optional(),
    timeoutMs: z.number().int().min(1000).max(MAX_CALL_TIMEOUT_MS).optional(),
    /** A group call even with one callee, so that more can be invited later. */
    group: z.boolean().optional(),
  }),
  /** Group calls: ring more people into the call; any member in it may. */
  request('invite', { callId, to: z.array(accidSchema).min(1).max(MAX_GROUP_MEMBERS) }),
  /** Group calls: come into a live call I was invited to, after declining or missing it, or after leaving. */
  request('join', { callId }),
  /** Group calls: I go, the call goes on for the others. */
  request('leave', { callId }),
  request('accept', { callId }),
  request('reject', { callId }),
  request('cancel', { callId }),
  /** `reason: 'failed'`: the device's media connection died; the record says so. */
  request('hangup', { callId, reason: z.literal('failed').optional() }),
  request('mediaState', { callId, audio: z.boolean().optional(), video: z.boolean().optional() }),
  request('switchType', { callId, callType: callTypeSchema }),
  request('switchTypeReply', { callId, accept: z.boolean() }),
  /** Media negotiation (SDP, ICE) relayed to the other device(s) of the call, never further. */
  request('signal', {
    callId,
    to: z.strictObject({ accid: accidSchema, deviceId: deviceIdSchema }).optional(),
    data: z.unknown(),
  }),
  /** Group calls through Janus: media negotiation with the media server, which RingKit relays. */
  request('sfu', { callId, data: sfuClientMessageSchema }),
  request('history', {
    limit: z.number().int().min(1).max(100).optional(),
    cursor: z.string().max(128).optional(),
  }),
  /**
   * This device's Web Push subscription (`null`: none), so that a call rings it while its page is
   * closed. `server`: the RingKit server's base URL as the device reaches it, where a notification's
   * Decline goes; `lang`: the language its notifications speak.
   */
  request('push', {
    subscription: z
      .strictObject({
        endpoint: z.url({ protocol: /^https?$/ }).max(1024),
        keys: z.strictObject({ p256dh: z.string().min(1).max(128), auth: z.string().min(1).max(64) }),
      })
      .nullable(),
    server: z
      .url({ protocol: /^https?$/ })
      .max(512)
      .optional(),
    lang: z.string().max(35).optional(),
  }),
])
export type ClientMessage = z.infer<typeof clientMessageSchema>
export type ClientMessageType = ClientMessage['type']
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>

export const iceServerSchema = z.object({
  urls: z.union([z.string(), z.array(z.string())]),
  username: z.string().optional(),
  credential: z.string().optional(),
})
export type IceServer = z.infer<typeof iceServerSchema>

export const loginResultSchema = z.object({
  sessionId: z.string(),
  resumed: z.boolean(),
  heartbeatMs: z.number(),
  iceServers: z.array(iceServerSchema),
  /** The server's VAPID public key, for `pushManager.subscribe()`; absent when push is off. */
  vapidPublicKey: z.string().optional(),
  /** A new session: the calls the account missed since it last had a device online, newest first. */
  missedCalls: z.array(callRecordSchema).optional(),
})
export type LoginResult = z.infer<typeof loginResultSchema>

export const callResultSchema = z.object({ callId: z.string() })
export const historyResultSchema = z.object({
  records: z.array(callRecordSchema),
  nextCursor: z.string().optional(),
})
export type HistoryPage = z.infer<typeof historyResultSchema>

/**
 * How a call's media travels: `p2p` one peer connection (1:1 calls), `mesh` a peer connection to
 * every other member (group calls without Janus), `sfu` through Janus (group calls with it).
 */
export type CallMedia = 'p2p' | 'mesh' | 'sfu'

/** The reply to accept and join. In a mesh, the newcomer offers to each device already in the call. */
export interface JoinResult {
  media?: CallMedia
  peers?: Array<{ accid: string; deviceId: string }>
  /** Group calls: what the call is, for a device that joins one it no longer holds. */
  call?: { type: CallType; caller: string; callees: string[]; members: GroupMember[]; attachment?: Attachment }
  /** STUN/TURN servers for this call, with TURN credentials from now on (login gives none). */
  iceServers?: IceServer[]
}

/** What each request's reply carries on success. */
export interface ReplyResults {
  login: LoginResult
  renew: { expiresAt: number }
  logout: Record<string, never>
  ping: { now: number }
  call: { callId: string; iceServers: IceServer[]; media: CallMedia }
  accept: JoinResult
  invite: Record<string, never>
  join: JoinResult
  leave: Record<string, never>
  sfu: SfuPublishResult | Record<string, never>
  reject: Record<string, never>
  cancel: Record<string, never>
  hangup: Record<string, never>
  mediaState: Record<string, never>
  switchType: { callType: 'audio' | 'video'; pending: boolean }
  switchTypeReply: Record<string, never>
  signal: Record<string, never>
  history: HistoryPage
  push: Record<string, never>
}

/**
 * Server → client frames. `seq` numbers what a resuming device must not miss; 0 marks a frame that
 * is not kept for a resume (the reply to `ping`, or to `history`, which a device asks for again).
 */
export type ServerFrame =
  | { type: 'reply'; id: string; seq: number; result: unknown }
  | { type: 'error'; id: string | null; seq?: number; error: ErrorBody }
  | { type: 'event'; seq: number; name: string; data: unknown }

export const serverFrameSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('reply'), id: z.string(), seq: z.number(), result: z.unknown() }),
  z.object({
    type: z.literal('error'),
    id: z.string().nullable(),
    seq: z.number().optional(),
    error: z.object({ code: z.string(), message: z.string() }),
  }),
  z.object({ type: z.literal('event'), seq: z.number(), name: z.string(), data: z.unknown() }),
])
