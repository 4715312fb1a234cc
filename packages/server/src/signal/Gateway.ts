import { randomUUID } from 'node:crypto'
import type { WebSocket } from 'ws'
import {
  CLOSE_PAGE_CLOSED,
  RingKitError,
  type CallRecord,
  type ClientMessage,
  type ClientMessageOf,
  type ClientMessageType,
  type DeviceRef,
  type ErrorBody,
  type IceServer,
  type ReplyResults,
} from '@ringkit/protocol'
import type { Logger } from 'pino'
import type { CallEngine } from '../calls/CallEngine.ts'
import { joinResult } from '../calls/group.ts'
import type { CallInput } from '../calls/types.ts'
import { verifyToken, type VerifiedToken } from '../auth/tokens.ts'
import type { App, Store } from '../store/types.ts'
import type { AccountGuards } from '../guards/AccountGuards.ts'
import type { Limits } from '../limits.ts'
import type { Metrics } from '../metrics.ts'
import { LoginGate } from './LoginGate.ts'
import type { DeviceSlots } from './presence.ts'
import { verifyLogin } from './verify-login.ts'
import { parseFrame } from './parse-frame.ts'
import { sendFrame } from './outbound.ts'
import { Session } from './Session.ts'
import { SocketHeartbeat } from './socket-heartbeat.ts'
import type { SessionRegistry } from './SessionRegistry.ts'
import type { SessionHandoff } from './takeover.ts'
import { settleHeldCalls } from './held-calls.ts'
import type { DeviceReach } from '../push/device-reach.ts'

export interface GatewayOptions {
  store: Store
  engine: CallEngine
  registry: SessionRegistry
  log: Logger
  metrics: Metrics
  heartbeatMs: number
  resumeGraceMs: number
  limits: Limits
  /** Per-account bounds, shared by all of an account's sockets (and, later, nodes). */
  guards: AccountGuards
  /** STUN for every device; TURN credentials come only with a call, to its parties. */
  sessionIceServers: IceServer[]
  /** A party's ICE servers with fresh TURN credentials, for accept and join replies. */
  callIceServers: (accid: string) => IceServer[]
  /** The per-account device cap, counted across every node. */
  slots: DeviceSlots
  /** In a cluster: kicks the account's devices on the other nodes (`kickAccount` kicks this node's). */
  kickElsewhere?: (appKey: string, accid: string, reason: 'otherLogin', exceptDeviceId: string) => Promise<void>
  /** In a cluster: ends the device's session on the node it logged in to before, as a login again here would. */
  replaceOn?: (node: string, appKey: string, accid: string, deviceId: string) => Promise<void>
  /** In a cluster: sessions logged in Redis, so that a device resumes on any node. */
  handoff?: SessionHandoff
  /** Web Push subscriptions and missed calls. */
  reach: DeviceReach
}

interface Connection {
  socket: WebSocket
  session: Session | undefined
  alive: boolean
  loginDeadline: NodeJS.Timeout
}

/** A handler that sent its reply itself, before events it caused. */
const REPLIED = Symbol('replied')
type Handler<T extends ClientMessageType> = (
  conn: Connection,
  session: Session,
  msg: ClientMessageOf<T>,
) => Promise<ReplyResults[T] | typeof REPLIED>
type Handlers = { [T in Exclude<ClientMessageType, 'login' | 'ping'>]: Handler<T> }

const CLOSE_KICKED = 4001
const CLOSE_LOGGED_OUT = 4002
const CLOSE_REPLACED = 4003
const CLOSE_LOGIN_DEADLINE = 4004
// CLOSE_SLOW_READER (4008) is in outbound.ts, where frames are written.
/** The node is draining: the device should reconnect at once, to another node (after 1012, Service Restart). */
const CLOSE_MOVE = 4012
/** Replies a device can simply ask for again: sent unnumbered, never kept for a resume. */
const UNREPLAYED: ReadonlySet<ClientMessageType> = new Set(['history'])

/**
 * The WebSocket edge: every inbound frame is checked against the protocol before anything acts on
 * it, and every failure becomes an error reply with a code for that connection alone.
 */
export class Gateway {
  readonly #o: GatewayOptions
  readonly #connections = new Set<Connection>()
  readonly #logins = new LoginGate()
  readonly #heartbeat: SocketHeartbeat
  #draining = false
  /** Sessions asked to move whose devices resume them elsewhere. */
  readonly #sentAway = new WeakSet<Session>()

  constructor(options: GatewayOptions) {
    this.#o = options
    this.#heartbeat = new SocketHeartbeat(this.#connections, options.heartbeatMs)
  }

  get connections(): number {
    return this.#connections.size
  }

  accept(socket: WebSocket): void {
    const conn: Connection = {
      socket,
      session: undefined,
      alive: true,
      // A socket that never logs in would hold a file and memory for nothing.
      loginDeadline: setTimeout(() => {
        if (!conn.session) socket.close(CLOSE_LOGIN_DEADLINE, 'login deadline')
      }, this.#o.limits.loginDeadlineMs),
    }
    conn.loginDeadline.unref()
    this.#connections.add(conn)
    this.#o.metrics.connections.inc()
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      conn.alive = true
      this.#onFrame(conn, data, isBinary)
    })
    socket.on('pong', () => (conn.alive = true))
    socket.on('error', () => socket.terminate())
    socket.on('close', (code) => this.#onClose(conn, code))
  }

  /** Logs every device of the account on this node out, telling each why. */
  kickAccount(appKey: string, accid: string, reason: 'revoked' | 'otherLogin', exceptDeviceId?: string): void {
    if (reason === 'revoked') this.#logins.revoke(appKey, accid)
    for (const session of this.#o.registry.devicesOf(appKey, accid)) {
      if (session.deviceId === exceptDeviceId) continue
      // A session that moved on is told on its new node, which is kicked too.
      if (session.movedTo === undefined) session.event({ name: 'kickedOffline', data: { reason } })
      this.#endSession(session, 'kicked', CLOSE_KICKED)
    }
  }

  /**
   * The device resumed this session on `node`, which took it over: the copy here lets its socket
   * go and ends at its grace without ending anything (frames it gets meanwhile go on to `node`).
   */
  movedElsewhere(moved: { appKey: string; accid: string; deviceId: string; sessionId: string; node: string }): void {
    const session = this.#o.registry.get(moved.appKey, moved.accid, moved.deviceId)
    if (session?.sessionId !== moved.sessionId || session.movedTo !== undefined) return
    this.#o.handoff?.letGo(session, moved.node)
    clearTimeout(session.tokenTimer)
    const socket = session.socket
    session.socket = undefined
    if (socket) this.#detach(socket, CLOSE_MOVE)
    if (!session.graceTimer) this.#awaitResume(session)
  }

  /**
   * A session taken over from a dead node whose inbox, looked at again, held a kick or a
   * replacement of its device: it ends as a kicked one does.
   */
  endTaken(session: Session): void {
    if (this.#o.registry.get(session.appKey, session.accid, session.deviceId) !== session) return
    session.event({ name: 'kickedOffline', data: { reason: 'otherLogin' } })
    this.#endSession(session, 'kicked', CLOSE_KICKED)
  }

  /** The device logged in again on another node: its session here is over, as if replaced here. */
  replacedElsewhere(appKey: string, accid: string, deviceId: string): void {
    const session = this.#o.registry.get(appKey, accid, deviceId)
    if (session) this.#endSession(session, 'replaced', CLOSE_REPLACED)
  }

  get draining(): boolean {
    return this.#draining
  }

  /** From now on no new logins (a session resuming is not one) and no new calls: SERVER_DRAINING. */
  startDraining(): void {
    this.#draining = true
  }

  /** Whether sessions outlive this node: a device asked to move resumes its session on another node. */
  get handsOver(): boolean {
    return this.#o.handoff !== undefined
  }

  /**
   * Asks a session's device to reconnect elsewhere at once (close code 4012). When sessions outlive
   * the node, its session waits for it (the device resumes it on another node, calls and all) and
   * is not resumed here while the node drains; otherwise, or with nothing to resume, it ends.
   */
  moveAway(session: Session): void {
    if (!this.handsOver || !session.resumable) return this.#endSession(session, 'disconnected', CLOSE_MOVE)
    if (this.#sentAway.has(session)) return
    this.#sentAway.add(session)
    const socket = session.socket
    session.socket = undefined
    if (socket) this.#detach(socket, CLOSE_MOVE)
    if (!session.graceTimer) this.#awaitResume(session)
  }

  close(): void {
    this.#heartbeat.stop()
    for (const session of this.#o.registry.all()) {
      clearTimeout(session.graceTimer)
      clearTimeout(session.tokenTimer)
    }
    for (const conn of this.#connections) conn.socket.terminate()
  }

  #onFrame(conn: Connection, data: Buffer, isBinary: boolean): void {
    const parsed = parseFrame(data, isBinary)
    if ('error' in parsed) return this.#reject(conn, parsed.id, parsed.error)
    this.#o.metrics.frames.inc({ type: parsed.msg.type })
    void this.#dispatch(conn, parsed.msg, data.length)
  }

  async #dispatch(conn: Connection, msg: ClientMessage, frameBytes: number): Promise<void> {
    const session = conn.session
    if (msg.type === 'ping') {
      if (session && msg.ack !== undefined) session.ack(msg.ack)
      return this.#direct(conn, { type: 'reply', id: msg.id, seq: 0, result: { now: Date.now() } })
    }
    if (msg.type === 'login') {
      if (session) return this.#reject(conn, msg.id, new RingKitError('ALREADY_LOGGED_IN'))
      return this.#login(conn, msg).catch((error: unknown) => this.#reject(conn, msg.id, this.#asError(error)))
    }
    if (!session) return this.#reject(conn, msg.id, new RingKitError('NOT_LOGGED_IN'))
    const replay = !UNREPLAYED.has(msg.type)
    // A request resent after a resume was already answered in the replayed frames, unless its
    // answer is not replayed: then it is answered again.
    if (replay && !session.firstSight(msg.id)) return
    try {
      session.meter.admit(msg.type, frameBytes)
      const handler = this.#handlers[msg.type] as Handler<typeof msg.type>
      const result = await handler(conn, session, msg as never)
      if (result !== REPLIED) session.reply(msg.id, result, replay)
    } catch (error) {
      session.error(msg.id, this.#asError(error), replay)
    }
  }

  readonly #handlers: Handlers = {
    renew: async (_conn, session, msg) => {
      const { app, account } = await this.#accountOf(session.appKey, session.accid)
      const verified = await verifyToken(msg.token, {
        ...app,
        accid: session.accid,
        tokensValidAfter: account.tokensValidAfter,
      })
      this.#armToken(session, verified.expiresAt)
      return { expiresAt: verified.expiresAt }
    },
    logout: async (conn, session, msg) => {
      // Signed out, the device is not rung while its page is closed either; a page closing keeps it.
      if (!msg.keepPush) await this.#o.reach.forget(session.appKey, session.accid, session.deviceId)
      // The slot is free before the reply, so that a login the device makes next, on any node, fits.
      await this.#o.slots.release(session.appKey, session.accid, session.deviceId)
      // Reply first, then close: the device hears that its logout went through.
      setImmediate(() => this.#endSession(session, 'logout', CLOSE_LOGGED_OUT))
      conn.session = undefined
      return {}
    },
    call: async (_conn, session, msg) => {
      if (this.#draining) throw new RingKitError('SERVER_DRAINING', 'this server is shutting down: call again shortly')
      await this.#o.guards.beforeRinging(session.appKey, session.accid, msg.to)
      await this.#o.engine.start(
        session.appKey,
        deviceOf(session),
        { to: msg.to, callType: msg.callType, attachment: msg.attachment, timeoutMs: msg.timeoutMs, group: msg.group },
        (callId, iceServers, media) => {
          this.#o.metrics.callsStarted.inc()
          session.holdsCall(callId)
          session.reply(msg.id, { callId, iceServers, media })
        },
      )
      return REPLIED
    },
    accept: async (_c, s, msg) => ({
      ...joinResult(await this.#o.engine.act(s.appKey, msg.callId, { kind: 'accept', by: deviceOf(s) }), deviceOf(s)),
      iceServers: this.#o.callIceServers(s.accid),
    }),
    join: async (_c, s, msg) => ({
      ...joinResult(await this.#o.engine.join(s.appKey, msg.callId, deviceOf(s)), deviceOf(s)),
      iceServers: this.#o.callIceServers(s.accid),
    }),
    leave: (_c, s, msg) => this.#act(s, msg.callId, { kind: 'leave', by: deviceOf(s) }),
    invite: async (_conn, s, msg) => {
      await this.#o.guards.beforeRinging(s.appKey, s.accid, msg.to)
      await this.#o.engine.invite(s.appKey, msg.callId, deviceOf(s), msg.to)
      return {}
    },
    sfu: (_c, s, msg) => this.#o.engine.sfuMessage(s.appKey, msg.callId, deviceOf(s), msg.data),
    reject: async (_c, s, msg) => {
      const after = await this.#o.engine.act(s.appKey, msg.callId, { kind: 'reject', by: deviceOf(s) })
      await this.#o.guards.declined(s.appKey, after.caller.accid, s.accid)
      return {}
    },
    cancel: (_c, s, msg) => this.#act(s, msg.callId, { kind: 'cancel', by: deviceOf(s) }),
    hangup: (_c, s, msg) =>
      this.#act(s, msg.callId, { kind: 'hangup', by: deviceOf(s), ...(msg.reason ? { failed: true } : {}) }),
    mediaState: (_c, s, msg) =>
      this.#act(s, msg.callId, { kind: 'mediaState', by: deviceOf(s), ...pick(msg, 'audio', 'video') }),
    switchTypeReply: (_c, s, msg) =>
      this.#act(s, msg.callId, { kind: 'switchTypeReply', by: deviceOf(s), accept: msg.accept }),
    switchType: async (_c, s, msg) => {
      const state = await this.#o.engine.act(s.appKey, msg.callId, {
        kind: 'switchType',
        by: deviceOf(s),
        type: msg.callType,
      })
      return { callType: msg.callType, pending: state.phase === 'active' && state.pendingSwitch !== undefined }
    },
    signal: async (_c, s, msg) => {
      await this.#o.engine.relay(s.appKey, msg.callId, deviceOf(s), msg.to, msg.data)
      return {}
    },
    push: async (_c, s, msg) => {
      await this.#o.reach.subscribe(s.appKey, s.accid, s.deviceId, msg)
      return {}
    },
    history: async (_c, s, msg) =>
      s.serially(() => this.#o.store.listRecords(s.appKey, s.accid, { limit: msg.limit ?? 20, cursor: msg.cursor })),
  }

  async #act(session: Session, callId: string, input: CallInput): Promise<Record<string, never>> {
    await this.#o.engine.act(session.appKey, callId, input)
    return {}
  }

  async #login(conn: Connection, msg: ClientMessageOf<'login'>): Promise<void> {
    const { registry, engine, slots } = this.#o
    const ticket = this.#logins.enter(msg.appKey, msg.accid)
    let missedCalls: CallRecord[] = []
    let app: App, verified: VerifiedToken
    let added = false
    let movedFrom: string | undefined
    let continued: Session | undefined
    try {
      ;({ app, verified } = await verifyLogin(this.#o.store, msg))
      // Once the token passed, read beside the rest of the login. A resume has heard of them.
      const missed = msg.resume
        ? Promise.resolve([])
        : this.#o.reach
            .missedCalls(app.appKey, msg.accid, async () => slots.othersOnline(app.appKey, msg.accid, msg.deviceId))
            .catch(() => [])
      // Still holding the ticket, so a revoke during the claim marks it. A device with a session
      // here (a resume, a login again) holds its slot already and needs no round trip.
      const held = registry.get(app.appKey, msg.accid, msg.deviceId)
      if (!this.#draining && (!held || held.movedTo !== undefined)) {
        // A session another node held: taken over from its log, or else a new one.
        let taken = msg.resume && (await this.#o.handoff?.takeOver(app, msg, msg.resume))
        // Registered at once: presence names this node now, so the device's events come here.
        if (taken) this.#continue((continued = taken.session))
        // Taken from a dead node whose inbox cannot show what the device missed: a new session.
        if (taken && !(await taken.whole)) {
          this.#o.registry.remove(taken.session)
          taken.session.journal?.close(true)
          taken = continued = undefined
        }
        ;({ added, movedFrom } = taken ? { added: taken.added } : await slots.claim(app, msg.accid, msg.deviceId))
        if (await this.#revokedMeanwhile(app.appKey, msg, verified.issuedAtMs, added)) ticket.revoked = true
      }
      missedCalls = await missed
    } catch (error) {
      // A session taken over is this node's now, whatever follows: it waits for its device.
      if (continued) this.#awaitResume(continued)
      throw error
    } finally {
      // Here, in the same turn as the registration below and not inside verifyLogin: nothing may
      // run between leaving the gate and registering.
      this.#logins.leave(ticket)
    }
    // From here to the reply nothing waits: a revoke either marked the ticket or will find the session.
    const gone = conn.session !== undefined || conn.socket.readyState !== conn.socket.OPEN
    if (continued && (ticket.revoked || gone)) {
      if (ticket.revoked) this.#endSession(continued, 'kicked')
      else this.#awaitResume(continued)
    }
    if (ticket.revoked || gone) {
      if (added) slots.abandon(app.appKey, msg.accid, msg.deviceId)
      if (ticket.revoked) throw new RingKitError('TOKEN_REVOKED')
      return
    }

    const existing = registry.get(app.appKey, msg.accid, msg.deviceId)
    const resumable =
      existing?.movedTo === undefined && !(this.#draining && existing !== undefined && this.#sentAway.has(existing))
    if (existing && msg.resume && existing.sessionId === msg.resume.sessionId && resumable) {
      clearTimeout(existing.graceTimer)
      existing.graceTimer = undefined
      const previous = existing.socket
      if (previous && previous !== conn.socket) this.#detach(previous, CLOSE_REPLACED)
      if (existing.resume(conn.socket, msg.resume.lastSeq)) {
        if (existing === continued) this.#o.metrics.sessions.set(registry.size)
        conn.session = existing
        this.#armToken(existing, verified.expiresAt)
        existing.reply(msg.id, this.#loginResult(existing, true))
        for (const callId of msg.resume.calls ?? []) existing.holdsCall(callId)
        return
      }
    }
    // A draining node still resumes its sessions (a device in a call keeps it), but opens no new ones.
    if (this.#draining) {
      if (added) slots.abandon(app.appKey, msg.accid, msg.deviceId)
      throw new RingKitError('SERVER_DRAINING')
    }
    // A device logging in again replaces itself and keeps its slot; the old devices stay.
    // A copy here of a session that moved on is let go; the node holding it now replaces it.
    if (existing) this.#endSession(existing, 'replaced', CLOSE_REPLACED)
    if (movedFrom !== undefined && (!existing || existing.movedTo !== undefined)) {
      void this.#o.replaceOn?.(movedFrom, app.appKey, msg.accid, msg.deviceId)
    }
    if (!app.multiDevice) {
      this.kickAccount(app.appKey, msg.accid, 'otherLogin', msg.deviceId)
      void this.#o.kickElsewhere?.(app.appKey, msg.accid, 'otherLogin', msg.deviceId)
    }

    const session = new Session({
      sessionId: randomUUID(),
      appKey: app.appKey,
      accid: msg.accid,
      deviceId: msg.deviceId,
      limits: this.#o.limits,
    })
    session.socket = conn.socket
    conn.session = session
    this.#o.handoff?.opened(session)
    registry.add(session)
    this.#o.metrics.sessions.set(registry.size)
    this.#armToken(session, verified.expiresAt)
    session.reply(msg.id, { ...this.#loginResult(session, false), missedCalls })
    // After the reply: a call already ringing for this account rings here too.
    await engine.deviceOnline(app.appKey, deviceOf(session))
  }

  /**
   * Cluster, every few seconds: each call a device holds that ended out of its sight (its end lost
   * with a node that died) ends for it.
   */
  settleHeldCalls(): Promise<void> {
    const { engine, store, registry, log } = this.#o
    return settleHeldCalls(
      {
        live: async (callId) => {
          const state = await engine.get(callId)
          return state !== undefined && state.phase !== 'ended'
        },
        record: async (session, callId) => {
          const record = await store.getRecord(session.appKey, callId)
          const party = record && (record.caller === session.accid || record.callees.includes(session.accid))
          return party ? record : undefined
        },
        held: (session) => registry.get(session.appKey, session.accid, session.deviceId) === session,
        log,
      },
      registry.all().filter((session) => session.movedTo === undefined && session.heldCalls().length > 0),
    )
  }

  /** Registers a session taken over from another node, in place of a copy here that had moved on. */
  #continue(session: Session): void {
    const copy = this.#o.registry.get(session.appKey, session.accid, session.deviceId)
    if (copy) {
      clearTimeout(copy.graceTimer)
      clearTimeout(copy.tokenTimer)
      copy.journal?.close(false)
    }
    this.#o.registry.add(session)
  }

  /**
   * In a cluster, a revoke on another node kicks the nodes that presence names, and this device is
   * named there only from its claim on. Reading the account again after the claim closes the gap:
   * either this read sees the revoke, or the revoke (stored before it looked) finds the device.
   */
  async #revokedMeanwhile(
    appKey: string,
    { accid, deviceId }: { accid: string; deviceId: string },
    issuedAtMs: number,
    added: boolean,
  ): Promise<boolean> {
    if (!this.#o.kickElsewhere) return false
    try {
      const account = await this.#o.store.getAccount(appKey, accid)
      return !account || issuedAtMs < account.tokensValidAfter
    } catch (error) {
      if (added) this.#o.slots.abandon(appKey, accid, deviceId)
      throw error
    }
  }

  #loginResult(session: Session, resumed: boolean): ReplyResults['login'] {
    return {
      sessionId: session.sessionId,
      resumed,
      heartbeatMs: this.#o.heartbeatMs,
      iceServers: this.#o.sessionIceServers,
      vapidPublicKey: this.#o.reach.vapidPublicKey,
    }
  }

  async #accountOf(appKey: string, accid: string) {
    const app = await this.#o.store.getApp(appKey)
    if (!app) throw new RingKitError('APP_NOT_FOUND')
    const account = await this.#o.store.getAccount(appKey, accid)
    if (!account) throw new RingKitError('ACCOUNT_NOT_FOUND', `no account "${accid}" in this app`)
    return { app, account }
  }

  #armToken(session: Session, expiresAt: number): void {
    clearTimeout(session.tokenTimer)
    session.tokenTimer = setTimeout(
      () => {
        session.event({ name: 'tokenExpired', data: {} })
        this.#endSession(session, 'expired', CLOSE_KICKED)
      },
      Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1),
    )
    session.tokenTimer.unref()
  }

  #onClose(conn: Connection, code: number): void {
    clearTimeout(conn.loginDeadline)
    this.#connections.delete(conn)
    this.#o.metrics.connections.dec()
    const session = conn.session
    if (!session || session.socket !== conn.socket) return
    session.socket = undefined
    // Nothing to resume: what the device missed is lost, so its session ends now. So it is when the
    // device said its page closed: a call to the account rings its push subscriptions at once
    // rather than a session nobody will take back. Not on 1001: proxies send it when they restart.
    if (!session.resumable || code === CLOSE_PAGE_CLOSED) return this.#endSession(session, 'disconnected')
    this.#awaitResume(session)
  }

  /**
   * The device may come back: keep its session, and its calls, for the grace period. At its end a
   * device that went on on another node (it resumed or logged in there) ends nothing here.
   */
  #awaitResume(session: Session): void {
    session.graceTimer = setTimeout(() => void this.#graceOver(session), this.#o.resumeGraceMs)
    session.graceTimer.unref()
  }

  async #graceOver(session: Session): Promise<void> {
    const elsewhere = session.movedTo ?? (await this.#o.handoff?.nodeOf(session))
    if (session.socket) return
    session.movedTo = elsewhere
    this.#endSession(session, 'disconnected')
  }

  #endSession(
    session: Session,
    why: 'disconnected' | 'kicked' | 'logout' | 'replaced' | 'expired',
    closeCode?: number,
  ): void {
    clearTimeout(session.graceTimer)
    clearTimeout(session.tokenTimer)
    if (!this.#o.registry.remove(session)) return
    this.#o.metrics.sessions.set(this.#o.registry.size)
    const socket = session.socket
    session.socket = undefined
    if (socket) this.#detach(socket, closeCode)
    // Its device goes on on another node, with its slot and its calls.
    session.journal?.close(session.movedTo === undefined)
    if (session.movedTo !== undefined) return
    // A session replaced by its own device hands its slot on to the new one.
    if (why !== 'replaced') void this.#o.slots.release(session.appKey, session.accid, session.deviceId)
    const device = deviceOf(session)
    this.#o.engine
      .deviceLost(session.appKey, device, why === 'kicked' ? 'kicked' : 'disconnected')
      .catch((error: unknown) => {
        this.#o.log.error({ err: error, accid: device.accid }, 'ending the call of a departed device failed')
      })
  }

  /** Unbinds the socket from its session, closing it when given a code. */
  #detach(socket: WebSocket, code?: number): void {
    for (const conn of this.#connections) if (conn.socket === socket) conn.session = undefined
    if (code !== undefined) socket.close(code)
  }

  #reject(conn: Connection, id: string | null, error: RingKitError): void {
    this.#o.metrics.frameErrors.inc({ code: error.code })
    const body: ErrorBody = error.toJSON()
    if (id !== null && conn.session) return conn.session.error(id, body)
    this.#direct(conn, { type: 'error', id, error: body })
  }

  #direct(conn: Connection, frame: object): void {
    sendFrame(conn.socket, JSON.stringify(frame), this.#o.limits.slowReader.bufferedBytes)
  }

  #asError(error: unknown): RingKitError {
    if (error instanceof RingKitError) return error
    this.#o.log.error({ err: error }, 'request failed')
    return new RingKitError('INTERNAL', undefined, { cause: error })
  }
}

function deviceOf(session: Session): DeviceRef {
  return { accid: session.accid, deviceId: session.deviceId }
}

function pick<T extends object, K extends keyof T>(obj: T, ...keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {}
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k]
  return out
}
