import type { FastifyInstance } from 'fastify'
import { AttemptLimiter } from './AttemptLimiter.ts'
import { registerApiRoutes } from './api-routes.ts'
import { DemoError } from './errors.ts'
import { createRingKitRest } from './ringkit-rest.ts'
import { acceptEmptyJson, refuseCrossSite } from './same-origin.ts'
import { addSecurityHeaders } from './security-headers.ts'
import { registerStaticRoutes } from './static-routes.ts'
import type { DemoOptions } from './types.ts'
import { openUserStore } from './user-store.ts'

const DEFAULT_AUTH_ATTEMPTS_PER_MINUTE = 10
const DEFAULT_SIGNUPS_PER_MINUTE = 20

/**
 * Mounts the demo app on a fastify server: its pages at `/` and `/app.js`, and its
 * JSON API under `/demo/api`. It reaches RingKit only through the REST API, as any app backend does.
 */
export function registerDemo(app: FastifyInstance, options: DemoOptions): void {
  const store = openUserStore(options.dataDir)
  const rest = createRingKitRest({ baseUrl: options.ringkitUrl, appKey: options.appKey, appSecret: options.appSecret })
  const limits = {
    signIn: new AttemptLimiter(options.authAttemptsPerMinute ?? DEFAULT_AUTH_ATTEMPTS_PER_MINUTE),
    signUp: new AttemptLimiter(options.signupsPerMinute ?? DEFAULT_SIGNUPS_PER_MINUTE),
  }

  // An encapsulated plugin: its error handler and hooks stay off the RingKit API's routes.
  void app.register(async (scope) => {
    scope.addHook('onClose', async () => store.close())
    scope.setErrorHandler((error: unknown, request, reply) => {
      const demoError = toDemoError(error)
      if (demoError.status >= 500) request.log.error({ err: demoError.cause ?? error }, demoError.message)
      return reply.code(demoError.status).send({ error: demoError.toJSON() })
    })
    addSecurityHeaders(scope)
    registerStaticRoutes(scope)
    const deps = { store, rest, limits, appKey: options.appKey }
    await scope.register(
      async (api) => {
        api.addHook('onRequest', async (request) => refuseCrossSite(request))
        acceptEmptyJson(api)
        registerApiRoutes(api, deps)
      },
      { prefix: '/demo/api' },
    )
  })
}

function toDemoError(error: unknown): DemoError {
  if (error instanceof DemoError) return error
  // Fastify's own errors (bad JSON, wrong content type, body too large) carry a 4xx statusCode.
  const { statusCode, message } = error as { statusCode?: unknown; message?: unknown }
  const text = typeof message === 'string' ? message : 'bad request'
  if (statusCode === 413) return new DemoError('PAYLOAD_TOO_LARGE', text)
  if (typeof statusCode === 'number' && statusCode < 500) return new DemoError('INVALID_PARAMS', text)
  return new DemoError('INTERNAL', 'internal error', { cause: error })
}
