import type { FastifyInstance, FastifyRequest } from 'fastify'

// A hostname, IPv4 or bracketed IPv6, with an optional port: anything else stays out of the policy.
const PLAIN_HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/

/**
 * What the demo page may load: its own scripts only (`/app.js`, no inline script), its own
 * origin's API and signaling socket, camera and microphone streams. Inline styles are allowed:
 * the page's base style and Lit's `style` attributes are inline, and a style cannot run code.
 */
export function contentSecurityPolicy(request: FastifyRequest): string {
  // CSP3 lets 'self' match the same host's ws: and wss:; older engines need them named.
  const socket = PLAIN_HOST.test(request.host) ? ` ws://${request.host} wss://${request.host}` : ''
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob: mediastream:",
    `connect-src 'self'${socket}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ')
}

/**
 * Every demo response forbids framing (clickjacking the call buttons): `frame-ancestors 'none'`,
 * and `X-Frame-Options: DENY` for browsers that predate it.
 */
export function addSecurityHeaders(scope: FastifyInstance): void {
  scope.addHook('onSend', async (request, reply) => {
    reply
      .header('content-security-policy', contentSecurityPolicy(request))
      .header('x-frame-options', 'DENY')
      .header('referrer-policy', 'same-origin')
      .header('x-content-type-options', 'nosniff')
  })
}
