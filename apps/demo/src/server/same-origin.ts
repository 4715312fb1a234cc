import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DemoError } from './errors.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])
const JSON_TYPE = /^application\/json\s*(?:;|$)/i

/**
 * Only the demo's own page may change state (sign up, sign in, sign out, take a RingKit token).
 * A page of another site can POST a form or a `text/plain` fetch with the user's cookie and no
 * preflight; it cannot send `application/json` without a preflight the demo never grants. So every
 * state-changing request must be JSON, and when the browser says where it comes from (`Origin`,
 * `Sec-Fetch-Site`), it must be this site.
 */
export function refuseCrossSite(request: FastifyRequest): void {
  if (SAFE_METHODS.has(request.method)) return
  const origin = request.headers.origin
  if (origin !== undefined && hostOf(origin) !== request.host) {
    throw new DemoError('CROSS_ORIGIN', `requests from ${origin.slice(0, 100)} are refused`)
  }
  const site = request.headers['sec-fetch-site']
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    throw new DemoError('CROSS_ORIGIN', `a ${site.slice(0, 20)} request is refused`)
  }
  if (!JSON_TYPE.test(request.headers['content-type'] ?? '')) {
    throw new DemoError('CROSS_ORIGIN', 'send state-changing requests as application/json')
  }
}

/** The host part of an Origin; `null` (sandboxed frames, files) and junk have none. */
function hostOf(origin: string): string | undefined {
  try {
    return new URL(origin).host
  } catch {
    return undefined
  }
}

/**
 * A JSON parser that takes an empty body as no body: body-less POSTs (sign out, take a token)
 * still carry `application/json`, which is what keeps them same-site.
 */
export function acceptEmptyJson(scope: FastifyInstance): void {
  const parse = scope.getDefaultJsonParser('error', 'error')
  scope.removeContentTypeParser('application/json')
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body.toString()
    if (text === '') return done(null, undefined)
    parse(request, text, done)
  })
}
