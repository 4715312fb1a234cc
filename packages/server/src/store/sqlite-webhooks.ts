import { randomUUID } from 'node:crypto'
import type Database from 'better-sqlite3'
import { wants, type NewWebhookEvent, type WebhookEventType } from '../webhooks/events.ts'
import type { WebhookAttempt, WebhookEndpoint, WebhookJob, WebhookStore } from './types.ts'

/** A job keeps its event's call and number, so the next of a call waits for the one before without a join. */
export const SQLITE_WEBHOOK_SCHEMA = `
CREATE TABLE IF NOT EXISTS webhook_endpoints (
  id TEXT PRIMARY KEY, app_key TEXT NOT NULL, url TEXT NOT NULL, events TEXT, secret TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS webhook_endpoints_app ON webhook_endpoints (app_key);
CREATE TABLE IF NOT EXISTS webhook_events (
  id TEXT PRIMARY KEY, app_key TEXT NOT NULL, call_id TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
  at INTEGER NOT NULL, data TEXT NOT NULL, UNIQUE (call_id, seq));
CREATE INDEX IF NOT EXISTS webhook_events_at ON webhook_events (at);
CREATE TABLE IF NOT EXISTS webhook_jobs (
  endpoint_id TEXT NOT NULL, event_id TEXT NOT NULL, call_id TEXT NOT NULL, seq INTEGER NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 0, first_at INTEGER NOT NULL, next_at INTEGER NOT NULL,
  lease_until INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (endpoint_id, event_id));
CREATE INDEX IF NOT EXISTS webhook_jobs_due ON webhook_jobs (next_at);
CREATE INDEX IF NOT EXISTS webhook_jobs_call ON webhook_jobs (endpoint_id, call_id, seq);
CREATE INDEX IF NOT EXISTS webhook_jobs_event ON webhook_jobs (event_id);
CREATE TABLE IF NOT EXISTS webhook_attempts (
  endpoint_id TEXT NOT NULL, at INTEGER NOT NULL, event_id TEXT NOT NULL, type TEXT NOT NULL,
  attempt INTEGER NOT NULL, status INTEGER NOT NULL, error TEXT);
CREATE INDEX IF NOT EXISTS webhook_attempts_endpoint ON webhook_attempts (endpoint_id, at);
`

/** How many attempts an endpoint's list keeps. */
export const KEPT_ATTEMPTS = 100
/**
 * Trimming an endpoint's attempts reads past the ones kept, so it is done on every this-many-th
 * settle of the endpoint: its list holds at most this many less one beyond `KEPT_ATTEMPTS`.
 */
export const TRIM_EVERY = 25

/** Whether a settle of the endpoint should trim its attempts: the first, then every `TRIM_EVERY`th. */
export function trimCounter(): (endpointId: string) => boolean {
  const settled = new Map<string, number>()
  return (endpointId) => {
    const n = (settled.get(endpointId) ?? 0) + 1
    // Bounded by the endpoints this node delivers to; starting over only trims once more.
    if (settled.size > 10_000) settled.clear()
    settled.set(endpointId, n % TRIM_EVERY)
    return n % TRIM_EVERY === 1
  }
}

interface EndpointRow {
  id: string
  url: string
  events: string | null
  secret: string
  disabled: number
  created_at: number
}

const toEndpoint = (r: EndpointRow): WebhookEndpoint => ({
  id: r.id,
  url: r.url,
  events: r.events === null ? null : (JSON.parse(r.events) as string[]),
  secret: r.secret,
  disabled: r.disabled === 1,
  createdAt: r.created_at,
})

interface AttemptRow {
  event_id: string
  type: string
  attempt: number
  status: number
  error: string | null
  at: number
}

export const toAttempt = (r: AttemptRow): WebhookAttempt => ({
  eventId: r.event_id,
  type: r.type,
  attempt: Number(r.attempt),
  status: Number(r.status),
  ...(r.error === null ? {} : { error: r.error }),
  at: Number(r.at),
})

/** A leased job with its endpoint and event, as both stores read it. */
export interface LeasedRow {
  attempt: number
  first_at: number | string
  url: string
  secret: string
  app_key: string
  call_id: string
  seq: number | string
  type: string
  at: number | string
  data: string
}

export const toJob = (endpointId: string, eventId: string, r: LeasedRow): WebhookJob => ({
  endpoint: { id: endpointId, url: r.url, secret: r.secret },
  event: {
    id: eventId,
    appKey: r.app_key,
    callId: r.call_id,
    seq: Number(r.seq),
    type: r.type as WebhookEventType,
    at: Number(r.at),
    data: r.data,
  },
  attempt: Number(r.attempt),
  firstAt: Number(r.first_at),
})

/**
 * The outbox in the SQLite file. `addEvents` is synchronous, so the record's transaction can hold
 * its `call.ended` with it.
 */
export function sqliteWebhooks(db: Database.Database): WebhookStore & {
  addEvents(appKey: string, callId: string, events: NewWebhookEvent[], now: number): void
} {
  const q = {
    insertEndpoint: db.prepare(
      `INSERT INTO webhook_endpoints (id, app_key, url, events, secret, disabled, created_at)
       SELECT ?, ?, ?, ?, ?, 0, ? WHERE (SELECT count(*) FROM webhook_endpoints WHERE app_key = ?) < ?`,
    ),
    listEndpoints: db.prepare<[string], EndpointRow>(
      'SELECT * FROM webhook_endpoints WHERE app_key = ? ORDER BY created_at, id',
    ),
    enabledEndpoints: db.prepare<[string], { id: string; events: string | null }>(
      'SELECT id, events FROM webhook_endpoints WHERE app_key = ? AND disabled = 0',
    ),
    deleteEndpoint: db.prepare('DELETE FROM webhook_endpoints WHERE app_key = ? AND id = ?'),
    deleteJobsOf: db.prepare('DELETE FROM webhook_jobs WHERE endpoint_id = ?'),
    deleteAttemptsOf: db.prepare('DELETE FROM webhook_attempts WHERE endpoint_id = ?'),
    lastSeq: db.prepare<[string], { seq: number | null }>(
      'SELECT max(seq) AS seq FROM webhook_events WHERE call_id = ?',
    ),
    insertEvent: db.prepare(
      'INSERT INTO webhook_events (id, app_key, call_id, seq, type, at, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ),
    insertJob: db.prepare(
      `INSERT INTO webhook_jobs (endpoint_id, event_id, call_id, seq, first_at, next_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (endpoint_id, event_id) DO UPDATE SET first_at = excluded.first_at, next_at = excluded.next_at,
         attempt = 0, lease_until = 0`,
    ),
    due: db.prepare<[number, number, number], { endpoint_id: string; event_id: string }>(
      `SELECT j.endpoint_id, j.event_id FROM webhook_jobs j
       JOIN webhook_endpoints e ON e.id = j.endpoint_id AND e.disabled = 0
       WHERE j.next_at <= ? AND j.lease_until <= ? AND NOT EXISTS (
         SELECT 1 FROM webhook_jobs k WHERE k.endpoint_id = j.endpoint_id AND k.call_id = j.call_id AND k.seq < j.seq)
       ORDER BY j.next_at LIMIT ?`,
    ),
    lease: db.prepare(
      'UPDATE webhook_jobs SET lease_until = ?, attempt = attempt + 1 WHERE endpoint_id = ? AND event_id = ?',
    ),
    leased: db.prepare<[string, string], LeasedRow>(
      `SELECT j.attempt, j.first_at, e.url, e.secret, v.app_key, v.call_id, v.seq, v.type, v.at, v.data
       FROM webhook_jobs j JOIN webhook_endpoints e ON e.id = j.endpoint_id JOIN webhook_events v ON v.id = j.event_id
       WHERE j.endpoint_id = ? AND j.event_id = ?`,
    ),
    retire: db.prepare('DELETE FROM webhook_jobs WHERE endpoint_id = ? AND event_id = ? AND attempt = ?'),
    reschedule: db.prepare(
      'UPDATE webhook_jobs SET next_at = ?, lease_until = 0 WHERE endpoint_id = ? AND event_id = ? AND attempt = ?',
    ),
    disable: db.prepare('UPDATE webhook_endpoints SET disabled = 1 WHERE id = ?'),
    enable: db.prepare('UPDATE webhook_endpoints SET disabled = 0 WHERE id = ?'),
    insertAttempt: db.prepare(
      `INSERT INTO webhook_attempts (endpoint_id, at, event_id, type, attempt, status, error)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    trimAttempts: db.prepare(
      `DELETE FROM webhook_attempts WHERE endpoint_id = ? AND rowid NOT IN (
         SELECT rowid FROM webhook_attempts WHERE endpoint_id = ? ORDER BY at DESC, rowid DESC LIMIT ?)`,
    ),
    attempts: db.prepare<[string, number], AttemptRow>(
      'SELECT * FROM webhook_attempts WHERE endpoint_id = ? ORDER BY at DESC, rowid DESC LIMIT ?',
    ),
    endpointOf: db.prepare<[string, string], { id: string }>(
      'SELECT id FROM webhook_endpoints WHERE app_key = ? AND id = ?',
    ),
    event: db.prepare<[string, string], { call_id: string; seq: number }>(
      'SELECT call_id, seq FROM webhook_events WHERE app_key = ? AND id = ?',
    ),
    pruneEvents: db.prepare(
      'DELETE FROM webhook_events WHERE at < ? AND NOT EXISTS (SELECT 1 FROM webhook_jobs WHERE event_id = webhook_events.id)',
    ),
    pruneJobs: db.prepare('DELETE FROM webhook_jobs WHERE first_at < ?'),
  }

  const trims = trimCounter()
  const addEvents = (appKey: string, callId: string, events: NewWebhookEvent[], now: number) => {
    const endpoints = q.enabledEndpoints.all(appKey).map((e) => ({
      id: e.id,
      events: e.events === null ? null : (JSON.parse(e.events) as string[]),
    }))
    let seq = q.lastSeq.get(callId)?.seq ?? 0
    for (const event of events) {
      const to = endpoints.filter((e) => wants(e.events, event.type))
      if (to.length === 0) continue
      const id = `msg_${randomUUID()}`
      seq += 1
      q.insertEvent.run(id, appKey, callId, seq, event.type, event.at, JSON.stringify(event.data))
      for (const endpoint of to) q.insertJob.run(endpoint.id, id, callId, seq, now, now)
    }
  }
  const claim = db.transaction((now: number, leaseMs: number, limit: number): WebhookJob[] =>
    q.due.all(now, now, limit).flatMap(({ endpoint_id, event_id }) => {
      q.lease.run(now + leaseMs, endpoint_id, event_id)
      const r = q.leased.get(endpoint_id, event_id)
      return r ? [toJob(endpoint_id, event_id, r)] : []
    }),
  )
  const settle = db.transaction(
    (job: WebhookJob, attempt: WebhookAttempt, outcome: Parameters<WebhookStore['settleWebhookJob']>[2]) => {
      const { id } = job.endpoint
      q.insertAttempt.run(
        id,
        attempt.at,
        attempt.eventId,
        attempt.type,
        attempt.attempt,
        attempt.status,
        attempt.error ?? null,
      )
      if (trims(id)) q.trimAttempts.run(id, id, KEPT_ATTEMPTS)
      if (outcome.kind === 'retry') q.reschedule.run(outcome.at, id, job.event.id, job.attempt)
      else q.retire.run(id, job.event.id, job.attempt)
      if (outcome.kind === 'disable') {
        q.disable.run(id)
        q.deleteJobsOf.run(id)
      }
    },
  )
  const remove = db.transaction((appKey: string, id: string) => {
    if (q.deleteEndpoint.run(appKey, id).changes !== 1) return false
    q.deleteJobsOf.run(id)
    q.deleteAttemptsOf.run(id)
    return true
  })
  const redeliver = db.transaction((appKey: string, id: string, eventId: string, now: number) => {
    if (!q.endpointOf.get(appKey, id)) return 'noEndpoint' as const
    const event = q.event.get(appKey, eventId)
    if (!event) return 'noEvent' as const
    q.enable.run(id)
    q.insertJob.run(id, eventId, event.call_id, event.seq, now, now)
    return 'queued' as const
  })
  const addAll = db.transaction(addEvents)

  return {
    addEvents,
    async createWebhook(appKey, e, max) {
      const events = e.events === null ? null : JSON.stringify(e.events)
      return q.insertEndpoint.run(e.id, appKey, e.url, events, e.secret, e.createdAt, appKey, max).changes === 1
    },
    async listWebhooks(appKey) {
      return q.listEndpoints.all(appKey).map(toEndpoint)
    },
    async deleteWebhook(appKey, id) {
      return remove(appKey, id)
    },
    async addWebhookEvents(appKey, callId, events, now) {
      addAll(appKey, callId, events, now)
    },
    async claimWebhookJobs(now, leaseMs, limit) {
      return claim(now, leaseMs, limit)
    },
    async settleWebhookJob(job, attempt, outcome) {
      settle(job, attempt, outcome)
    },
    async listWebhookAttempts(appKey, id, limit) {
      if (!q.endpointOf.get(appKey, id)) return undefined
      return q.attempts.all(id, limit).map(toAttempt)
    },
    async redeliverWebhook(appKey, id, eventId, now) {
      return redeliver(appKey, id, eventId, now)
    },
    async pruneWebhooks(before, giveUpBefore) {
      q.pruneJobs.run(giveUpBefore)
      q.pruneEvents.run(before)
    },
  }
}
