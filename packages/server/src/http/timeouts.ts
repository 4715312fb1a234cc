import http from 'node:http'
import type { FastifyHttpOptions } from 'fastify'
import { RingKitError } from '@ringkit/protocol'
import type { Limits } from '../limits.ts'

/** Node checks request deadlines this often at most; its default, 30 s, would let a slow body live that much longer. */
const DEADLINE_CHECK_MS = 1000

/**
 * Fastify options that bound how long an HTTP client may take: a request (headers and body) must
 * arrive within `requestMs` (408 REQUEST_TOO_SLOW), and a connection on which nothing moves for
 * `idleMs` is closed. Without them a client sending one byte a minute holds a socket and a parser
 * forever. A WebSocket is bound by neither once upgraded: ws clears the socket's timeout, and the
 * heartbeat takes over.
 */
export function httpTimeouts(limits: Limits['http']): Partial<FastifyHttpOptions<http.Server>> {
  return {
    requestTimeout: limits.requestMs,
    connectionTimeout: limits.idleMs,
    http: {
      headersTimeout: limits.requestMs,
      connectionsCheckingInterval: Math.min(DEADLINE_CHECK_MS, limits.requestMs),
    },
    clientErrorHandler: (error, socket) => {
      if (error.code === 'ECONNRESET' || socket.destroyed) return
      const [status, refusal] = clientError(error.code, limits.requestMs)
      const body = JSON.stringify({ error: refusal.toJSON() })
      if (socket.writable) {
        socket.write(
          `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
            `Content-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
        )
      }
      socket.destroy()
    },
  }
}

/** What fastify's own handler answers, with a RingKit code: a slow request, headers too large, or not HTTP. */
function clientError(code: string, requestMs: number): [number, RingKitError] {
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return [408, new RingKitError('REQUEST_TOO_SLOW', `a request must arrive within ${requestMs} ms`)]
  }
  if (code === 'HPE_HEADER_OVERFLOW')
    return [431, new RingKitError('FRAME_TOO_LARGE', 'the request headers are too large')]
  return [400, new RingKitError('INVALID_PARAMS', 'the request is not valid HTTP')]
}
