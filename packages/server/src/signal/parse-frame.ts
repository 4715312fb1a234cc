import {
  clientMessageSchema,
  isErrorCode,
  MAX_FRAME_BYTES,
  MAX_FRAME_DEPTH,
  RingKitError,
  type ClientMessage,
} from '@ringkit/protocol'
import { nestedDeeperThan } from './frame-depth.ts'

const KNOWN_TYPES: ReadonlySet<string> = new Set(clientMessageSchema.options.map((o) => o.shape.type.value))

/**
 * One inbound frame checked against the protocol: the message, or the error to answer it with
 * (for the request `id` when the frame named one the reply can carry).
 */
export function parseFrame(
  data: Buffer,
  isBinary: boolean,
): { msg: ClientMessage } | { id: string | null; error: RingKitError } {
  if (data.length > MAX_FRAME_BYTES) {
    return { id: null, error: new RingKitError('FRAME_TOO_LARGE', `frames are limited to ${MAX_FRAME_BYTES} bytes`) }
  }
  let json: unknown
  try {
    if (isBinary) throw new Error('binary frame')
    json = JSON.parse(data.toString('utf8'))
  } catch {
    return { id: null, error: new RingKitError('BAD_FRAME', 'frames are JSON text') }
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { id: null, error: new RingKitError('BAD_FRAME', 'a frame is a JSON object') }
  }
  const rawId = (json as { id?: unknown }).id
  const id = typeof rawId === 'string' && rawId.length > 0 && rawId.length <= 64 ? rawId : null
  // JSON.parse nests as deep as it is told; JSON.stringify of it again (replies, journal) overflows the stack.
  if (nestedDeeperThan(json, MAX_FRAME_DEPTH)) {
    return { id, error: new RingKitError('INVALID_PARAMS', `frames nest at most ${MAX_FRAME_DEPTH} levels`) }
  }
  const parsed = clientMessageSchema.safeParse(json)
  if (parsed.success) return { msg: parsed.data }
  const type = (json as { type?: unknown }).type
  if (typeof type !== 'string' || !KNOWN_TYPES.has(type)) {
    return { id, error: new RingKitError('UNKNOWN_TYPE', `unknown message type ${JSON.stringify(type)?.slice(0, 40)}`) }
  }
  const issue = parsed.error.issues[0]
  const where = issue?.path.join('.') || 'frame'
  // A check of the protocol's own (say an attachment's size) names the code it refuses with.
  const code = issue?.code === 'custom' && isErrorCode(issue.params?.code) ? issue.params.code : 'INVALID_PARAMS'
  return { id, error: new RingKitError(code, `${where}: ${issue?.message ?? 'invalid'}`) }
}
