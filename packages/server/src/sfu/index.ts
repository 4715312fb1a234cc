export { JanusPool } from './JanusPool.ts'
export type { JanusPoolOptions, SfuRoom } from './types.ts'
