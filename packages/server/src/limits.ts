/** A budget of actions: `burst` at once, refilled at `perSecond`. */
export interface Rate {
  perSecond: number
  burst: number
}

const KiB = 1024
const MiB = 1024 * KiB

/**
 * What one client may make the server do or hold. Each bound names whom it counts (an account, a
 * device, a socket, an IP), so a client cannot escape it by opening more sockets.
 */
export interface Limits {
  /** Calls and invitations one account may place. */
  invites: Rate
  /**
   * What a device's session keeps for replay until the device acknowledges it. Past either bound
   * the session can no longer be resumed and keeps nothing more: a device that never acknowledges
   * cannot make the server hold more than this.
   */
  outbox: { frames: number; bytes: number }
  /**
   * A socket with more than this many bytes waiting to be written is closed: it reads too slowly.
   * Well above `outbox.bytes`, so that replaying a full outbox to a resuming device does not trip it.
   */
  slowReader: { bufferedBytes: number }
  /** `history` requests per device: each one reads the database and sends up to 100 records. */
  history: Rate
  /** `signal` messages per device: each is copied to the other devices of the call. */
  signal: Rate
  /** `signal` bytes per device, so that big messages cannot make up for fewer of them. */
  signalBytes: Rate
  /** `sfu` requests per device: each one is a request to Janus. */
  sfu: Rate
  /** What a ringing call keeps of the caller's negotiation for callee devices that log in late. */
  keptSignals: { count: number; bytes: number }
}

export const DEFAULT_LIMITS: Limits = {
  invites: { perSecond: 5, burst: 10 },
  outbox: { frames: 512, bytes: 2 * MiB },
  slowReader: { bufferedBytes: 4 * MiB },
  history: { perSecond: 5, burst: 20 },
  signal: { perSecond: 50, burst: 200 },
  signalBytes: { perSecond: 256 * KiB, burst: 1 * MiB },
  sfu: { perSecond: 50, burst: 200 },
  keptSignals: { count: 64, bytes: 256 * KiB },
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
