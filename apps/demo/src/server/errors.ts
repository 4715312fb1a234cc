/** Every error the demo API answers with, and its HTTP status. Codes are stable: the pages branch on them. */
export const DEMO_ERROR_STATUS = {
  INVALID_PARAMS: 400,
  NOT_SIGNED_IN: 401,
  BAD_CREDENTIALS: 401,
  CROSS_ORIGIN: 403,
  NOT_FOUND: 404,
  USER_NOT_FOUND: 404,
  USERNAME_TAKEN: 409,
  PAYLOAD_TOO_LARGE: 413,
  TOO_MANY_ATTEMPTS: 429,
  INTERNAL: 500,
  RINGKIT_UNAVAILABLE: 502,
} as const

export type DemoErrorCode = keyof typeof DEMO_ERROR_STATUS

export class DemoError extends Error {
  readonly code: DemoErrorCode

  constructor(code: DemoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DemoError'
    this.code = code
  }

  get status(): number {
    return DEMO_ERROR_STATUS[this.code]
  }

  toJSON(): { code: DemoErrorCode; message: string } {
    return { code: this.code, message: this.message }
  }
}
