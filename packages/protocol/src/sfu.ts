import { z } from 'zod'

const sdp = z.string().min(1).max(60_000)
const candidate = z.strictObject({
  candidate: z.string().max(2000),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(255).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
})

/**
 * What a device sends about its group-call media when Janus carries it. Each device has two peer
 * connections with the media server: `publisher` (its own camera and microphone, offered by the
 * device) and `subscriber` (everyone else, offered by the server, answered by the device).
 * RingKit relays these to Janus; devices never learn Janus's address, room, pin or secret.
 */
export const sfuClientMessageSchema = z.discriminatedUnion('kind', [
  /** Starts or renegotiates publishing; the reply carries the answer. */
  z.strictObject({ kind: z.literal('publish'), description: z.strictObject({ type: z.literal('offer'), sdp }) }),
  /** The answer to the server's latest subscriber offer. */
  z.strictObject({ kind: z.literal('answer'), description: z.strictObject({ type: z.literal('answer'), sdp }) }),
  /** A trickled ICE candidate of one of the two connections; `candidate: null` when gathering is done. */
  z.strictObject({
    kind: z.literal('candidate'),
    target: z.enum(['publisher', 'subscriber']),
    candidate: candidate.nullable(),
  }),
])
export type SfuClientMessage = z.infer<typeof sfuClientMessageSchema>

export interface SfuPublishResult {
  description: { type: 'answer'; sdp: string }
}

/** One received stream of the subscriber connection: which member's audio or video a mid carries. */
export interface SfuStream {
  mid: string
  accid: string
  kind: 'audio' | 'video'
}

/** What the server sends about group-call media: a new subscriber offer, listing every stream in it. */
export type SfuServerMessage = {
  kind: 'offer'
  description: { type: 'offer'; sdp: string }
  streams: SfuStream[]
}
