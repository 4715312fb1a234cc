export { JanusPool } from './JanusPool.ts'
export { SfuCalls, type SfuCallsOptions } from './SfuCalls.ts'
export type { JanusPoolOptions, SfuRoom } from './types.ts'
export { assertJanusSecret, PLACEHOLDER_JANUS_SECRET } from './janus-secret.ts'
