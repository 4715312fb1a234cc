import type { Logger } from 'pino'
import { accountTag, presenceKeys, PRUNE_PRESENCE } from './redis-presence.ts'
import type { RedisLink } from './redis.ts'

/**
 * Each session's numbered frames, kept in Redis as well as in its node's memory, so that its device
 * can resume on any node. Per session a hash (its owner node, its device, the last seq written) and
 * a list of the frames not yet acknowledged, consecutive, the last one numbered `last`. Every write
 * names its owner and is refused once another node took the session over: a node that lost the
 * session cannot add to the log after the frames the new owner replayed. The keys share the
 * account's hash tag with its presence, so that a takeover moves both in one script.
 */

/** Refuses a write of a node that does not own the session: {2, owner}; {0} when the log is gone. */
const OWNED = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return {0} end
if owner ~= ARGV[1] then return {2, owner} end
local function expire()
  redis.call('PEXPIRE', KEYS[1], ARGV[#ARGV])
  redis.call('PEXPIRE', KEYS[2], ARGV[#ARGV])
end
`

/**
 * ARGV: owner, seq, frame, inbox cursor ('' when unknown), device, max frames, lifetime. The
 * session's first frame (its login reply) starts the log. A frame that does not follow the last one
 * means a write went missing (Redis was out of reach): the log can no longer prove continuity and
 * goes. The cursor is the last entry of the owner's inbox read when the frame was numbered: every
 * entry up to it that was for the device is in the log, and a node taking over from a dead owner
 * reads the rest there.
 */
const APPEND = `
if ARGV[2] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'device', ARGV[5], 'last', 0)
end
${OWNED}
local seq = tonumber(ARGV[2])
if seq ~= tonumber(redis.call('HGET', KEYS[1], 'last')) + 1 or redis.call('LLEN', KEYS[2]) >= tonumber(ARGV[6]) then
  redis.call('DEL', KEYS[1], KEYS[2])
  return {0}
end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('HSET', KEYS[1], 'last', seq)
if ARGV[4] == '' then redis.call('HDEL', KEYS[1], 'inbox') else redis.call('HSET', KEYS[1], 'inbox', ARGV[4]) end
expire()
return {1}
`

/** ARGV: owner, seq, lifetime. The device has every frame up to seq. */
const ACK = `${OWNED}
local len = redis.call('LLEN', KEYS[2])
local drop = tonumber(ARGV[2]) - (tonumber(redis.call('HGET', KEYS[1], 'last')) - len)
if drop > 0 then redis.call('LTRIM', KEYS[2], drop, -1) end
expire()
return {1}
`

/** ARGV: owner, lifetime. */
const DROP = `${OWNED}
redis.call('DEL', KEYS[1], KEYS[2])
return {1}
`

/**
 * KEYS: the account's presence keys, then the log's. ARGV: node, device, the device's last seq,
 * max devices (-1: no cap), the owner expected, whether an inbox cursor is needed (the owner is
 * dead: what it did not number is read from its inbox), lifetime. When the log holds every frame after the
 * device's last seq, the session and the device's presence move to `node` at once; answers
 * {claimed, previous owner, last seq, inbox cursor, frames…}, {-1} when another node owns the log
 * by now, or {0} when the log cannot prove continuity (or the account is full).
 */
const TAKE_OVER = `${PRUNE_PRESENCE}
local meta = redis.call('HMGET', KEYS[3], 'owner', 'device', 'last', 'inbox')
if not meta[1] or meta[2] ~= ARGV[2] then return {0} end
if meta[1] ~= ARGV[5] then return {-1} end
if ARGV[6] == '1' and not meta[4] then return {0} end
local last = tonumber(meta[3])
local len = redis.call('LLEN', KEYS[4])
local after = tonumber(ARGV[3])
if after > last or after < last - len then return {0} end
local claimed = claim(ARGV[2], ARGV[1], tonumber(ARGV[4]))
if claimed == 0 then return {0} end
local drop = after - (last - len)
if drop > 0 then redis.call('LTRIM', KEYS[4], drop, -1) end
redis.call('HSET', KEYS[3], 'owner', ARGV[1])
-- The cursor was into the previous owner's inbox; the new owner's first frame sets one into its own.
redis.call('HDEL', KEYS[3], 'inbox')
redis.call('PEXPIRE', KEYS[3], ARGV[7])
redis.call('PEXPIRE', KEYS[4], ARGV[7])
local out = {claimed, meta[1], last, meta[4] or ''}
for _, frame in ipairs(redis.call('LRANGE', KEYS[4], 0, -1)) do table.insert(out, frame) end
return out
`

/** Refreshes in batches, as presence does. */
const REFRESH_BATCH = 500

export interface LoggedSession {
  appKey: string
  accid: string
  deviceId: string
  sessionId: string
}

/** A session taken over from the log: the frames after the device's last seq, numbered on from `lastSeq`. */
export interface TakenLog {
  /** Whether the device took a free slot (its presence had lapsed) rather than keeping its own. */
  added: boolean
  /** The node that owned the session until now. */
  previousOwner: string
  frames: { seq: number; text: string }[]
  lastSeq: number
  /** The last entry of the previous owner's inbox that the log's frames account for, if known. */
  cursor: string | undefined
}

/** What a session tells its log, in the order its frames are numbered. */
export interface SessionJournal {
  /** `origin`: the inbox entry the frame's event came from, if it came from one. */
  framed(seq: number, text: string, origin?: string): void
  acked(seq: number): void
  /** Another node took the session over: frames numbered here from now on go on to the device there. */
  moved(node: string): void
  /** The session ended for good (`drop`) or goes on elsewhere: this node writes no more. */
  close(drop: boolean): void
  /** Resolves once every write asked for so far has landed or failed. */
  written(): Promise<void>
  /** Every heartbeat: whether the log is to live on (a log missing a write tries again to go). */
  beat(): boolean
}

export interface SessionLogOptions {
  link: RedisLink
  nodeId: string
  /** How long a log lives unrefreshed: a dead node's sessions stay resumable this long. */
  lifetimeMs: number
  /** Frames a log holds at most: the outbox's bound, which its session enforces first. */
  maxFrames: number
  /** The last entry of this node's inbox read so far; undefined until the inbox is read. */
  position: () => string | undefined
  log: Logger
}

/**
 * A frame this node numbered after another node took the session over: not in the log that node
 * replayed, so the caller carries it on (an event goes to the device's new node).
 */
export type OnFenced = (session: LoggedSession, owner: string, text: string, origin: string | undefined) => void

export class SessionLog {
  readonly #o: SessionLogOptions
  readonly #append
  readonly #ack
  readonly #drop
  readonly #takeOver

  constructor(options: SessionLogOptions) {
    this.#o = options
    const { link } = options
    this.#append = link.script('ringkitAppendSessionLog', APPEND)
    this.#ack = link.script('ringkitAckSessionLog', ACK)
    this.#drop = link.script('ringkitDropSessionLog', DROP)
    this.#takeOver = link.script('ringkitTakeOverSessionLog', TAKE_OVER)
  }

  /**
   * The journal of a session new on this node (its first frame starts the log), or of one it just
   * took over (its log goes on from where it ends).
   */
  journal(session: LoggedSession, onFenced: OnFenced): SessionJournal {
    return new Journal(this, session, onFenced)
  }

  /**
   * Takes the session over from `owner` if its log holds every frame after `lastSeq`; undefined
   * when it cannot prove that (expired, trimmed past the ack, not this device's) or Redis is out of
   * reach, 'changed' when another node owns the log by now.
   */
  async takeOver(
    session: LoggedSession,
    owner: string,
    lastSeq: number,
    maxDevices: number | undefined,
    needCursor: boolean,
  ): Promise<TakenLog | 'changed' | undefined> {
    const keys = [...presenceKeys(session.appKey, session.accid), ...logKeys(session)]
    const args = [
      this.#o.nodeId,
      session.deviceId,
      lastSeq,
      maxDevices ?? -1,
      owner,
      needCursor ? 1 : 0,
      this.#lifetime,
    ]
    let answer: unknown[]
    try {
      answer = (await this.#takeOver(keys, args)) as unknown[]
    } catch (error) {
      this.#o.log.warn({ err: error, accid: session.accid }, 'reading a session log failed: the device starts anew')
      return undefined
    }
    const [claimed, previousOwner, last, cursor, ...texts] = answer as [number, string, number, string, ...string[]]
    if (claimed === -1) return 'changed'
    if (claimed === 0) return undefined
    const frames = texts.map((text, i) => ({ seq: lastSeq + 1 + i, text }))
    return { added: claimed === 1, previousOwner, frames, lastSeq: Number(last), cursor: cursor || undefined }
  }

  /** The node that owns the session's log; undefined when there is none (or Redis is out of reach). */
  async owner(session: LoggedSession): Promise<string | undefined> {
    try {
      return (await this.#o.link.run((r) => r.hget(logKeys(session)[0]!, 'owner'))) ?? undefined
    } catch (error) {
      this.#o.log.warn({ err: error, accid: session.accid }, 'reading a session log failed: the device starts anew')
      return undefined
    }
  }

  /** Every heartbeat: the logs of this node's sessions live on, as their presence does. */
  async refresh(sessions: readonly (LoggedSession & { journal: SessionJournal | undefined })[]): Promise<void> {
    sessions = sessions.filter((s) => s.journal?.beat())
    for (let i = 0; i < sessions.length; i += REFRESH_BATCH) {
      await this.#o.link.run((r) => {
        const batch = r.pipeline()
        for (const session of sessions.slice(i, i + REFRESH_BATCH)) {
          for (const key of logKeys(session)) batch.pexpire(key, this.#lifetime)
        }
        return batch.exec()
      })
    }
  }

  get #lifetime(): number {
    return Math.max(1, Math.ceil(this.#o.lifetimeMs))
  }

  /** For `Journal`: one write, answered 1 written, 0 log gone, or the owner that fenced it off. */
  async write(
    op: 'append' | 'ack' | 'drop',
    session: LoggedSession,
    args: (string | number)[],
  ): Promise<number | string> {
    const script = op === 'append' ? this.#append : op === 'ack' ? this.#ack : this.#drop
    const tail = op === 'append' ? [session.deviceId, this.#o.maxFrames, this.#lifetime] : [this.#lifetime]
    const [status, owner] = (await script(logKeys(session), [this.#o.nodeId, ...args, ...tail])) as [number, string?]
    return status === 2 ? owner! : status
  }

  get logger(): Logger {
    return this.#o.log
  }

  get position(): string {
    return this.#o.position() ?? ''
  }
}

/**
 * One session's writes, in a chain so that they land in the order the session made them. A write
 * that fails (Redis out of reach) leaves a gap the next append finds, and the log goes: a device
 * resuming elsewhere then starts anew rather than miss a frame.
 */
class Journal implements SessionJournal {
  readonly #log: SessionLog
  readonly #session: LoggedSession
  readonly #onFenced: OnFenced
  #chain: Promise<void> = Promise.resolve()
  /** The node that took the session over, once a write was refused: later frames go straight on. */
  #movedTo: string | undefined
  #closed = false
  /**
   * A write failed: the log misses a frame or an ack. Nothing more is written (which would only
   * queue up while Redis is away) but the log's removal, until it goes.
   */
  #broken = false
  #dropping = false

  constructor(log: SessionLog, session: LoggedSession, onFenced: OnFenced) {
    this.#log = log
    this.#session = session
    this.#onFenced = onFenced
  }

  framed(seq: number, text: string, origin?: string): void {
    if (this.#closed) return
    if (this.#broken && this.#movedTo === undefined) return this.#dropBroken()
    // Read now, not when the write runs: the entries read by the time this frame was numbered.
    const cursor = this.#log.position
    this.run(async () => {
      if (this.#movedTo !== undefined) return this.#onFenced(this.#session, this.#movedTo, text, origin)
      if (this.#broken) return
      const answer = await this.#log.write('append', this.#session, [seq, text, cursor])
      if (typeof answer === 'string') {
        this.#movedTo = answer
        this.#onFenced(this.#session, answer, text, origin)
      }
    })
  }

  moved(node: string): void {
    this.run(async () => {
      this.#movedTo ??= node
    })
  }

  acked(seq: number): void {
    if (this.#closed || this.#movedTo !== undefined || this.#broken) return
    this.run(async () => {
      if (!this.#broken) await this.#log.write('ack', this.#session, [seq])
    })
  }

  beat(): boolean {
    if (this.#broken) this.#dropBroken()
    return !this.#closed && !this.#broken && this.#movedTo === undefined
  }

  /** Once Redis answers again the log goes: a device resuming elsewhere then starts anew. */
  #dropBroken(): void {
    if (this.#dropping || this.#closed) return
    this.#dropping = true
    this.run(async () => {
      try {
        await this.#log.write('drop', this.#session, [])
        this.#closed = true
      } finally {
        this.#dropping = false
      }
    })
  }

  close(drop: boolean): void {
    if (this.#closed) return
    this.#closed = true
    if (drop) this.run(() => this.#log.write('drop', this.#session, []))
  }

  written(): Promise<void> {
    return this.#chain
  }

  run(write: () => Promise<unknown>): void {
    this.#chain = this.#chain.then(write).then(
      () => {},
      (error: unknown) => {
        if (!this.#broken)
          this.#log.logger.warn({ err: error, accid: this.#session.accid }, 'writing a session log failed')
        this.#broken = true
      },
    )
  }
}

function logKeys({ appKey, accid, sessionId }: LoggedSession): string[] {
  const key = `session:${accountTag(appKey, accid)}:${sessionId}`
  return [key, `${key}:log`]
}
