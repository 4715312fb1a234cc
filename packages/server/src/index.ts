export {
  startServer,
  createApp,
  DEFAULT_SETTINGS,
  type MountContext,
  type RingKitServer,
  type ServerOptions,
} from './server.ts'
export { createToken, verifyToken, DEFAULT_TOKEN_TTL_SECONDS, MAX_TOKEN_TTL_SECONDS } from './auth/tokens.ts'
export type { TokenInput, IssuedToken } from './auth/tokens.ts'
export { computeCheckSum } from './auth/checksum.ts'
export { DEFAULT_REDIS_PREFIX, type RedisConfig } from './bus/redis-config.ts'
export { DEFAULT_LIMITS, type Limits, type LimitOverrides, type Rate } from './limits.ts'
export { transition } from './calls/transition.ts'
export type { CallState, CallInput, Effect } from './calls/types.ts'
export type { CallStateStore, EventDelivery, KeptCall } from './calls/ports.ts'
export type { Store, App, Account } from './store/types.ts'
export { verifyWebhook, type VerifiedWebhook, type WebhookHeaders } from './webhooks/signing.ts'
export { WEBHOOK_EVENT_TYPES, type WebhookEventType } from './webhooks/events.ts'
