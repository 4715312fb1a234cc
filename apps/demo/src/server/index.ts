export { registerDemo } from './register-demo.ts'
export { DEMO_ERROR_STATUS, DemoError, type DemoErrorCode } from './errors.ts'
export { SESSION_COOKIE } from './session-cookie.ts'
export type { DemoHistoryPage, DemoHistoryRecord, DemoOptions, DemoTokenResponse, DemoUser } from './types.ts'
