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
   * How long an HTTP request (headers and body, at most 64 KiB) may take to arrive from when its
   * connection opens, and how long nothing may move on it (a client that stops reading a reply):
   * a slow client holds a socket and a parser meanwhile. WebSockets are bound by neither.
   */
  http: { requestMs: number; idleMs: number }
}

export const DEFAULT_LIMITS: Limits = {
  invites: { perSecond: 5, burst: 10 },
  // A backend on a slow link sends 64 KiB in well under 10 s; keep-alive sockets reconnect at will.
  http: { requestMs: 10_000, idleMs: 30_000 },
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
