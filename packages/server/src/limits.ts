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
  /** Calls and invitations one account may place, over all its devices and sockets. */
  invites: Rate
  /** REST requests one app may make, counted after its CheckSum passed so others cannot spend it. */
  rest: Rate
  /** Devices one account may have logged in at once; more logins are refused, not the old ones kicked. */
  devicesPerAccount: number
  /** How long a new socket may stay open without logging in: idle sockets cost memory and a file. */
  loginDeadlineMs: number
  /** WebSocket connections one client IP (an IPv6 /64) may hold on this node. */
  connectionsPerIp: number
  /** After a callee declines, how long before the same caller may ring them again; 0 turns it off. */
  declineCooldownMs: number
  /** How long TURN credentials outlive a call's ringing: the longest a relayed call can last. */
  turnCallSeconds: number
  /**
   * People one group call may ring over its life, those who declined, missed or left included:
   * the size limits count only who is in it at once, and this keeps its record and journal bounded.
   */
  groupCallees: { perCall: number }
  /**
   * How long an HTTP request (headers and body, at most 64 KiB) may take to arrive from when its
   * connection opens, and how long nothing may move on it (a client that stops reading a reply):
   * a slow client holds a socket and a parser meanwhile. WebSockets are bound by neither.
   */
  http: { requestMs: number; idleMs: number }
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
  rest: { perSecond: 100, burst: 200 },
  devicesPerAccount: 10,
  loginDeadlineMs: 10_000,
  connectionsPerIp: 64,
  declineCooldownMs: 30_000,
  turnCallSeconds: 4 * 3600,
  groupCallees: { perCall: 100 },
  // A backend on a slow link sends 64 KiB in well under 10 s; keep-alive sockets reconnect at will.
  http: { requestMs: 10_000, idleMs: 30_000 },
  outbox: { frames: 512, bytes: 2 * MiB },
  slowReader: { bufferedBytes: 4 * MiB },
  history: { perSecond: 5, burst: 20 },
  signal: { perSecond: 50, burst: 200 },
  signalBytes: { perSecond: 256 * KiB, burst: 1 * MiB },
  sfu: { perSecond: 50, burst: 200 },
  keptSignals: { count: 64, bytes: 256 * KiB },
}

/** Server options name only the limits they change; the rest keep their defaults. */
export type LimitOverrides = { [K in keyof Limits]?: Limits[K] extends object ? Partial<Limits[K]> : Limits[K] }

export function resolveLimits(overrides: LimitOverrides = {}): Limits {
  const limits = { ...DEFAULT_LIMITS }
  for (const key of Object.keys(overrides) as (keyof Limits)[]) {
    const value = overrides[key]
    if (value === undefined) continue
    const base = DEFAULT_LIMITS[key]
    limits[key] = (typeof base === 'object' ? { ...base, ...(value as object) } : value) as never
  }
  return limits
}
