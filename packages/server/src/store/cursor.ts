import { RingKitError } from '@ringkit/protocol'

/**
 * A page of records ends at a position (endedAt, callId); the next page starts after it. The same
 * cursor means the same position in every store.
 */
export function encodeCursor(endedAt: number, callId: string): string {
  return Buffer.from(`${endedAt}:${callId}`).toString('base64url')
}

export function decodeCursor(cursor: string): { endedAt: number; callId: string } {
  const text = Buffer.from(cursor, 'base64url').toString()
  const colon = text.indexOf(':')
  const endedAt = Number(text.slice(0, colon))
  const callId = text.slice(colon + 1)
  // No callId holds a NUL, and PostgreSQL refuses one in text: such a cursor was not made here.
  if (colon < 1 || !Number.isSafeInteger(endedAt) || callId.includes('\u0000')) {
    throw new RingKitError('INVALID_PARAMS', 'cursor is not valid')
  }
  return { endedAt, callId }
}
