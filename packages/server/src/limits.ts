/** A budget of actions: `burst` at once, refilled at `perSecond`. */
export interface Rate {
  perSecond: number
  burst: number
}

/**
 * What one client may make the server do or hold. Each bound names whom it counts (an account, a
 * device, a socket, an IP), so a client cannot escape it by opening more sockets.
 */
export interface Limits {
  /** Calls and invitations one account may place. */
  invites: Rate
  /**
   * People one group call may ring over its life, those who declined, missed or left included:
   * the size limits count only who is in it at once, and this keeps its record and journal bounded.
   */
  groupCallees: { perCall: number }
}

export const DEFAULT_LIMITS: Limits = {
  invites: { perSecond: 5, burst: 10 },
  groupCallees: { perCall: 100 },
}

/** Server options name only the limits they change; the rest keep their defaults. */
export type LimitOverrides = { [K in keyof Limits]?: Partial<Limits[K]> }

export function resolveLimits(overrides: LimitOverrides = {}): Limits {
  const limits = { ...DEFAULT_LIMITS }
  for (const key of Object.keys(overrides) as (keyof Limits)[]) {
    const value = overrides[key]
    if (value !== undefined) limits[key] = { ...DEFAULT_LIMITS[key], ...value } as never
  }
  return limits
}
