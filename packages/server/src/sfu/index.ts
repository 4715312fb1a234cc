export { JanusPool } from './JanusPool.ts'
export { SfuCalls, type SfuCallsOptions } from './SfuCalls.ts'
export type { JanusPoolOptions, SfuRoom } from './types.ts'
