import { z } from 'zod'

/** Numeric record statuses, as vendors' call records (话单) use them. */
export const RECORD_STATUS = {
  completed: 1,
  canceled: 2,
  rejected: 3,
  timeout: 4,
  busy: 5,
} as const
export type RecordStatus = (typeof RECORD_STATUS)[keyof typeof RECORD_STATUS]

/**
 * Why a call ended. Mapped once, by `recordStatusFor`, to the record's numeric status.
 * `disconnected`: a party's device lost its connection past the grace period.
 * `interrupted`: the server stopped while the call was live.
 * `failed`: the media connection died and could not be restored.
 * `mediaServerLost`: the Janus carrying a group call's media went away.
 */
export const END_REASONS = [
  'hangup',
  'canceled',
  'rejected',
  'busy',
  'timeout',
  'disconnected',
  'interrupted',
  'kicked',
  'failed',
  'mediaServerLost',
] as const
export type EndReason = (typeof END_REASONS)[number]

export function recordStatusFor(reason: EndReason, connected: boolean): RecordStatus {
  if (connected) return RECORD_STATUS.completed
  switch (reason) {
    case 'rejected':
      return RECORD_STATUS.rejected
    case 'busy':
      return RECORD_STATUS.busy
    case 'timeout':
    case 'interrupted':
    case 'failed':
    case 'mediaServerLost':
      return RECORD_STATUS.timeout
    case 'hangup':
    case 'canceled':
    case 'disconnected':
    case 'kicked':
      return RECORD_STATUS.canceled
  }
}

export const callTypeSchema = z.enum(['audio', 'video'])
export type CallType = z.infer<typeof callTypeSchema>

/** What one party did in the call, as the record keeps it. */
export const memberStatusSchema = z.enum(['joined', 'rejected', 'busy', 'missed', 'canceled'])
export type MemberStatus = z.infer<typeof memberStatusSchema>

export const attachmentSchema = z.record(z.string(), z.unknown())
export type Attachment = z.infer<typeof attachmentSchema>

/**
 * Largest attachment a caller may send, in bytes of its JSON. The server copies it into every
 * callee's invitation and into the record, so it stays small; it is the caller's own input, and the
 * callee's app must treat it as untrusted.
 */
export const MAX_ATTACHMENT_BYTES = 4096

/** Bytes of an attachment's JSON, as the size limit counts them. */
export function attachmentBytes(attachment: Attachment): number {
  return new TextEncoder().encode(JSON.stringify(attachment)).length
}

/** An attachment as a caller sends it: refused with ATTACHMENT_TOO_LARGE past `MAX_ATTACHMENT_BYTES`. */
export const callAttachmentSchema = attachmentSchema.refine((a) => attachmentBytes(a) <= MAX_ATTACHMENT_BYTES, {
  message: `attachments are limited to ${MAX_ATTACHMENT_BYTES} bytes of JSON`,
  params: { code: 'ATTACHMENT_TOO_LARGE' },
})

export const callRecordSchema = z.object({
  callId: z.string(),
  type: callTypeSchema,
  caller: z.string(),
  callees: z.array(z.string()),
  isGroup: z.boolean(),
  status: z.union([z.literal(1), z.literal(2), z.literal(3), z.literal(4), z.literal(5)]),
  endReason: z.enum(END_REASONS),
  startedAt: z.number(),
  connectedAt: z.number().optional(),
  endedAt: z.number(),
  durationSeconds: z.number(),
  members: z.array(
    z.object({
      accid: z.string(),
      status: memberStatusSchema,
      joinedAt: z.number().optional(),
      leftAt: z.number().optional(),
    }),
  ),
  attachment: attachmentSchema.optional(),
})
export type CallRecord = z.infer<typeof callRecordSchema>

/**
 * Whether the call rang `accid` and it did not answer: it missed it, or the caller gave up first.
 * A call it declined, or that found it busy, it did not miss.
 */
export function missedBy(record: CallRecord, accid: string): boolean {
  if (record.caller === accid) return false
  const status = record.members.find((m) => m.accid === accid)?.status
  return status === 'missed' || status === 'canceled'
}
