import { randomUUID } from 'node:crypto'
import type { NewWebhookEvent } from '../webhooks/events.ts'
import type { Db } from './pg-pool.ts'
import { KEPT_ATTEMPTS, toAttempt, toJob, trimCounter, type LeasedRow } from './sqlite-webhooks.ts'
import type { WebhookEndpoint, WebhookStore } from './types.ts'

/** Parameters of the event CTEs, as `$n` with their types. */
interface EventParams {
  app: string
  call: string
  /** A JSON array of `{id, ord, type, at, data}`, `data` being JSON text. */
  events: string
  now: string
}

/** The events as the CTEs take them: each with its id and place, `data` as text. */
export const eventRows = (events: NewWebhookEvent[]): string =>
  JSON.stringify(
    events.map((e, ord) => ({ id: `msg_${randomUUID()}`, ord, type: e.type, at: e.at, data: JSON.stringify(e.data) })),
  )

/**
 * CTEs that number the events an enabled endpoint takes after the call's last, and queue a job
 * per such endpoint; `gate` (a CTE name) must have a row for anything to be written. Two writers
 * numbering one call at once collide on `(call_id, seq)`, and the loser writes again.
 */
export function eventCtes(s: string, p: EventParams, gate?: string): string {
  const takes = (type: string) =>
    `e.app_key = ${p.app} AND NOT e.disabled AND (e.events IS NULL OR ${type} = ANY(e.events))`
  return `input AS (
     SELECT x.* FROM jsonb_to_recordset(${p.events}::jsonb) AS x(id text, ord int, type text, at bigint, data text)
     ${gate ? `, ${gate}` : ''}),
   wanted AS (
     SELECT i.*, row_number() OVER (ORDER BY i.ord) AS n FROM input i
     WHERE EXISTS (SELECT 1 FROM ${s}.webhook_endpoints e WHERE ${takes('i.type')})),
   queued AS (
     INSERT INTO ${s}.webhook_events (id, app_key, call_id, seq, type, at, data)
     SELECT w.id, ${p.app}, ${p.call},
       coalesce((SELECT max(seq) FROM ${s}.webhook_events WHERE call_id = ${p.call}), 0) + w.n, w.type, w.at, w.data
     FROM wanted w RETURNING id, type, seq),
   jobs AS (
     INSERT INTO ${s}.webhook_jobs (endpoint_id, event_id, call_id, seq, first_at, next_at)
     SELECT e.id, q.id, ${p.call}, q.seq, ${p.now}, ${p.now}
     FROM queued q JOIN ${s}.webhook_endpoints e ON ${takes('q.type')})`
}

/** Runs `write` again when another writer took the same `seq` of a call first. */
export async function renumbering<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write()
    } catch (error) {
      const unique = (error as { code?: unknown }).code === '23505'
      if (!unique || attempt >= 5) throw error
    }
  }
}

interface EndpointRow {
  id: string
  url: string
  events: string[] | null
  secret: string
  disabled: boolean
  created_at: string
}

const toEndpoint = (r: EndpointRow): WebhookEndpoint => ({
  id: r.id,
  url: r.url,
  events: r.events,
  secret: r.secret,
  disabled: r.disabled,
  createdAt: Number(r.created_at),
})

/** The outbox in PostgreSQL; `s` is the schema, quoted. */
export function pgWebhooks(db: Db, s: string): WebhookStore {
  const trims = trimCounter()
  return {
    async createWebhook(appKey, e, max) {
      // Counted and written under a lock on the app's endpoints, so two nodes cannot both pass the cap.
      return db.transaction(async (client) => {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`ringkit.webhooks:${appKey}`])
        const { rowCount } = await client.query(
          `INSERT INTO ${s}.webhook_endpoints (id, app_key, url, events, secret, created_at)
           SELECT $1, $2, $3, $4, $5, $6 WHERE (SELECT count(*) FROM ${s}.webhook_endpoints WHERE app_key = $2) < $7`,
          [e.id, appKey, e.url, e.events, e.secret, e.createdAt, max],
        )
        return rowCount === 1
      })
    },
    async listWebhooks(appKey) {
      const { rows } = await db.query<EndpointRow>(
        `SELECT * FROM ${s}.webhook_endpoints WHERE app_key = $1 ORDER BY created_at, id`,
        [appKey],
      )
      return rows.map(toEndpoint)
    },
    async deleteWebhook(appKey, id) {
      const { rows } = await db.query<{ n: string }>(
        `WITH gone AS (DELETE FROM ${s}.webhook_endpoints WHERE app_key = $1 AND id = $2 RETURNING id),
         jobs AS (DELETE FROM ${s}.webhook_jobs WHERE endpoint_id IN (SELECT id FROM gone)),
         attempts AS (DELETE FROM ${s}.webhook_attempts WHERE endpoint_id IN (SELECT id FROM gone))
         SELECT count(*) AS n FROM gone`,
        [appKey, id],
      )
      return rows[0]?.n === '1'
    },
    async addWebhookEvents(appKey, callId, events, now) {
      if (events.length === 0) return
      await renumbering(async () =>
        db.query(
          `WITH ${eventCtes(s, { app: '$1::text', call: '$2::text', events: '$3', now: '$4::bigint' })} SELECT 1`,
          [appKey, callId, eventRows(events), now],
        ),
      )
    },
    async claimWebhookJobs(now, leaseMs, limit) {
      // SKIP LOCKED: a job another node is leasing right now is left to it, not waited for.
      const { rows } = await db.query<LeasedRow & { endpoint_id: string; event_id: string }>(
        `WITH due AS (
           SELECT j.endpoint_id, j.event_id FROM ${s}.webhook_jobs j
           JOIN ${s}.webhook_endpoints e ON e.id = j.endpoint_id AND NOT e.disabled
           WHERE j.next_at <= $1 AND j.lease_until <= $1 AND NOT EXISTS (
             SELECT 1 FROM ${s}.webhook_jobs k WHERE k.endpoint_id = j.endpoint_id AND k.call_id = j.call_id AND k.seq < j.seq)
           ORDER BY j.next_at LIMIT $3 FOR UPDATE OF j SKIP LOCKED),
         leased AS (
           UPDATE ${s}.webhook_jobs j SET lease_until = $2, attempt = j.attempt + 1 FROM due
           WHERE j.endpoint_id = due.endpoint_id AND j.event_id = due.event_id
           RETURNING j.endpoint_id, j.event_id, j.attempt, j.first_at)
         SELECT l.*, e.url, e.secret, v.app_key, v.call_id, v.seq, v.type, v.at, v.data FROM leased l
         JOIN ${s}.webhook_endpoints e ON e.id = l.endpoint_id JOIN ${s}.webhook_events v ON v.id = l.event_id
         ORDER BY l.event_id`,
        [now, now + leaseMs, limit],
      )
      return rows.map((r) => toJob(r.endpoint_id, r.event_id, r))
    },
    async settleWebhookJob(job, attempt, outcome) {
      const { id } = job.endpoint
      await db.transaction(async (client) => {
        await client.query(
          `INSERT INTO ${s}.webhook_attempts (endpoint_id, at, event_id, type, attempt, status, error)
           VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [id, attempt.at, attempt.eventId, attempt.type, attempt.attempt, attempt.status, attempt.error ?? null],
        )
        if (trims(id)) {
          await client.query(
            `DELETE FROM ${s}.webhook_attempts WHERE endpoint_id = $1 AND id NOT IN (
               SELECT id FROM ${s}.webhook_attempts WHERE endpoint_id = $1 ORDER BY at DESC, id DESC LIMIT $2)`,
            [id, KEPT_ATTEMPTS],
          )
        }
        const key = [id, job.event.id, job.attempt]
        if (outcome.kind === 'retry') {
          await client.query(
            `UPDATE ${s}.webhook_jobs SET next_at = $4, lease_until = 0
             WHERE endpoint_id = $1 AND event_id = $2 AND attempt = $3`,
            [...key, outcome.at],
          )
        } else {
          await client.query(
            `DELETE FROM ${s}.webhook_jobs WHERE endpoint_id = $1 AND event_id = $2 AND attempt = $3`,
            key,
          )
        }
        if (outcome.kind === 'disable') {
          await client.query(`UPDATE ${s}.webhook_endpoints SET disabled = true WHERE id = $1`, [id])
          await client.query(`DELETE FROM ${s}.webhook_jobs WHERE endpoint_id = $1`, [id])
        }
      })
    },
    async listWebhookAttempts(appKey, id, limit) {
      const { rows: found } = await db.query(`SELECT 1 FROM ${s}.webhook_endpoints WHERE app_key = $1 AND id = $2`, [
        appKey,
        id,
      ])
      if (found.length === 0) return undefined
      const { rows } = await db.query<Parameters<typeof toAttempt>[0]>(
        `SELECT * FROM ${s}.webhook_attempts WHERE endpoint_id = $1 ORDER BY at DESC, id DESC LIMIT $2`,
        [id, limit],
      )
      return rows.map(toAttempt)
    },
    async redeliverWebhook(appKey, id, eventId, now) {
      const { rows } = await db.query<{ endpoint: boolean; event: boolean }>(
        `WITH endpoint AS (SELECT id FROM ${s}.webhook_endpoints WHERE app_key = $1 AND id = $2),
         event AS (SELECT id, call_id, seq FROM ${s}.webhook_events WHERE app_key = $1 AND id = $3),
         enabled AS (
           UPDATE ${s}.webhook_endpoints SET disabled = false
           WHERE id IN (SELECT id FROM endpoint) AND EXISTS (SELECT 1 FROM event)),
         job AS (
           INSERT INTO ${s}.webhook_jobs (endpoint_id, event_id, call_id, seq, first_at, next_at)
           SELECT endpoint.id, event.id, event.call_id, event.seq, $4, $4 FROM endpoint, event
           -- Asked for again while an attempt is in flight: that attempt's settle no longer matches
           -- (attempt is fenced on), and the job is due at once, as a new one.
           ON CONFLICT (endpoint_id, event_id) DO UPDATE SET first_at = excluded.first_at, next_at = excluded.next_at,
             attempt = 0, lease_until = 0)
         SELECT EXISTS (SELECT 1 FROM endpoint) AS endpoint, EXISTS (SELECT 1 FROM event) AS event`,
        [appKey, id, eventId, now],
      )
      const r = rows[0]
      if (!r?.endpoint) return 'noEndpoint'
      return r.event ? 'queued' : 'noEvent'
    },
    async pruneWebhooks(before, giveUpBefore) {
      await db.query(`DELETE FROM ${s}.webhook_jobs WHERE first_at < $1`, [giveUpBefore])
      await db.query(
        `DELETE FROM ${s}.webhook_events v WHERE at < $1
         AND NOT EXISTS (SELECT 1 FROM ${s}.webhook_jobs j WHERE j.event_id = v.id)`,
        [before],
      )
    },
  }
}
