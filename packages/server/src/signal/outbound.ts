import type { Socket } from 'node:net'
import type { WebSocket } from 'ws'

/**
 * Close code for a socket that read too slowly: more than the limit waited to be written to it. Its
 * session follows the usual grace and resume rules, unless it had stopped being resumable.
 */
export const CLOSE_SLOW_READER = 4008
/** Frames above this many characters are written as bytes (see sendFrame). */
const LARGE_FRAME = 16 * 1024

/**
 * Sends a frame if the socket is open, then closes the socket if more than `maxBufferedBytes` wait to
 * be written: a peer that does not read would otherwise make the server hold all it is sent.
 */
export function sendFrame(socket: WebSocket, text: string, maxBufferedBytes: number): void {
  if (socket.readyState !== socket.OPEN) return
  corkForThisTick(socket)
  // A large frame goes as bytes: Node reserves three bytes a character for a string it cannot
  // write at once, so a stalled socket would hold three times what `bufferedAmount` says.
  socket.send(text.length > LARGE_FRAME ? Buffer.from(text) : text, { binary: false })
  if (socket.bufferedAmount > maxBufferedBytes) socket.close(CLOSE_SLOW_READER, 'reading too slowly')
}

/**
 * Holds a socket's writes until the end of the current tick, so the frames one action sends a
 * device (say userReject, callEnd and record) leave in one system call instead of one each.
 * Reaches into ws's underlying net.Socket, which ws exposes but does not document.
 */
function corkForThisTick(socket: WebSocket): void {
  const raw = (socket as unknown as { _socket?: Socket })._socket
  if (!raw || raw.writableCorked > 0) return
  raw.cork()
  process.nextTick(() => raw.uncork())
}
