import type { Logger } from 'pino'
import type { WebhookJob, WebhookOutcome, WebhookStore } from '../store/types.ts'
import { webhookBody } from './events.ts'
import { signWebhook } from './signing.ts'

/** How long one attempt may take before it counts as unanswered. */
export const ATTEMPT_TIMEOUT_MS = 10_000
/** A claimed job is the claiming node's for this long: past its attempt's deadline, with room to settle. */
const LEASE_MS = ATTEMPT_TIMEOUT_MS + 5_000
/** Retries: the first within 5 s, doubling to an hour, with jitter; given up a day after the first attempt. */
const FIRST_RETRY_MS = 5_000
const LAST_RETRY_MS = 3_600_000
export const GIVE_UP_AFTER_MS = 25 * 3_600_000
/** The longest `Retry-After` honoured as asked; longer ones wait this long. */
const MAX_RETRY_AFTER_MS = 6 * 3_600_000
/** How long delivered events are kept for a redelivery. */
const KEEP_EVENTS_MS = 3 * 24 * 3_600_000
const POLL_MS = 1_000
const PRUNE_EVERY_MS = 600_000
/** Attempts in flight at once, on this node. */
const CONCURRENCY = 32

export interface DispatcherOptions {
  store: WebhookStore
  log: Pick<Logger, 'warn' | 'error'>
  now?: () => number
  attemptTimeoutMs?: number
}

/** The wait before attempt `attempt + 1`, after `attempt` failed. */
export function retryDelay(attempt: number, retryAfterMs: number | undefined, random = Math.random()): number {
  if (retryAfterMs !== undefined) return Math.min(Math.max(retryAfterMs, FIRST_RETRY_MS), MAX_RETRY_AFTER_MS)
  const ceiling = Math.min(FIRST_RETRY_MS * 2 ** (attempt - 1), LAST_RETRY_MS)
  return Math.round(ceiling * (0.5 + random / 2))
}

/** `Retry-After` in seconds or as an HTTP date, in ms from `now`. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - now)
}

/**
 * Makes the outbox's attempts from this node: claims due jobs (a lease, so each attempt is made by
 * one node of a cluster), POSTs each signed event with a deadline, and settles it: delivered on a
 * 2xx, the endpoint disabled on a 410, retried later otherwise. A node that dies mid-attempt leaves
 * its lease to run out, and another node makes the attempt again under the same `webhook-id`.
 */
export class WebhookDispatcher {
  readonly #o: Required<Omit<DispatcherOptions, 'log'>> & Pick<DispatcherOptions, 'log'>
  readonly #inFlight = new Set<Promise<void>>()
  #timer: NodeJS.Timeout | undefined
  #prune: NodeJS.Timeout | undefined
  #passing: Promise<void> | undefined
  #again = false
  #closed = false

  constructor(o: DispatcherOptions) {
    this.#o = { now: Date.now, attemptTimeoutMs: ATTEMPT_TIMEOUT_MS, ...o }
  }

  start(): void {
    this.#timer = setInterval(() => this.nudge(), POLL_MS)
    this.#prune = setInterval(() => void this.#pruneOld(), PRUNE_EVERY_MS)
    this.#timer.unref()
    this.#prune.unref()
    this.nudge()
  }

  /** Something was queued: look now rather than at the next poll. */
  nudge(): void {
    if (this.#closed) return
    if (this.#passing) {
      this.#again = true
      return
    }
    this.#passing = this.#pass()
      .catch((error: unknown) => this.#o.log.warn({ err: error }, 'webhook jobs could not be claimed'))
      .finally(() => {
        this.#passing = undefined
        if (this.#again) {
          this.#again = false
          this.nudge()
        }
      })
  }

  /** Stops claiming and waits for the attempts in flight; those unsettled are retried after their lease. */
  async close(): Promise<void> {
    this.#closed = true
    clearInterval(this.#timer)
    clearInterval(this.#prune)
    await this.#passing
    await Promise.all(this.#inFlight)
  }

  async #pass(): Promise<void> {
    const room = CONCURRENCY - this.#inFlight.size
    if (room <= 0) return
    const jobs = await this.#o.store.claimWebhookJobs(this.#o.now(), LEASE_MS, room)
    for (const job of jobs) {
      const attempt = this.#attempt(job).finally(() => {
        this.#inFlight.delete(attempt)
        // A call's next event waits for this one: it may be due now.
        this.nudge()
      })
      this.#inFlight.add(attempt)
    }
  }

  async #attempt(job: WebhookJob): Promise<void> {
    const body = webhookBody(job.event)
    const signedAt = this.#o.now()
    const timestamp = Math.floor(signedAt / 1000)
    let status = 0
    let error: string | undefined
    let retryAfterMs: number | undefined
    try {
      const response = await fetch(job.endpoint.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(this.#o.attemptTimeoutMs),
        headers: {
          'content-type': 'application/json',
          'user-agent': 'RingKit-Webhooks/1',
          'webhook-id': job.event.id,
          'webhook-timestamp': String(timestamp),
          'webhook-signature': signWebhook(job.endpoint.secret, job.event.id, timestamp, body),
        },
      })
      status = response.status
      retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), this.#o.now())
      await response.body?.cancel().catch(() => {})
      if (status < 200 || status > 299) error = `HTTP ${status}`
    } catch (failure) {
      const timedOut = failure instanceof Error && failure.name === 'TimeoutError'
      error = timedOut ? `no answer in ${this.#o.attemptTimeoutMs} ms` : describe(failure)
    }
    const now = this.#o.now()
    const outcome: WebhookOutcome =
      error === undefined
        ? { kind: 'delivered' }
        : status === 410
          ? { kind: 'disable' }
          : now - job.firstAt >= GIVE_UP_AFTER_MS
            ? { kind: 'gaveUp' }
            : { kind: 'retry', at: now + retryDelay(job.attempt, retryAfterMs) }
    const attempt = {
      eventId: job.event.id,
      type: job.event.type,
      attempt: job.attempt,
      status,
      ...(error === undefined ? {} : { error }),
      at: signedAt,
    }
    await this.#o.store.settleWebhookJob(job, attempt, outcome).catch((failure: unknown) => {
      // The lease runs out and the attempt is made again: at least once, never lost.
      this.#o.log.warn({ err: failure, eventId: job.event.id }, 'a webhook attempt could not be settled')
    })
    if (outcome.kind === 'disable')
      this.#o.log.warn({ endpoint: job.endpoint.id }, 'webhook endpoint answered 410: disabled')
  }

  async #pruneOld(): Promise<void> {
    const now = this.#o.now()
    await this.#o.store
      .pruneWebhooks(now - KEEP_EVENTS_MS, now - GIVE_UP_AFTER_MS - 3_600_000)
      .catch((error: unknown) => this.#o.log.warn({ err: error }, 'old webhook events could not be pruned'))
  }
}

function describe(failure: unknown): string {
  if (!(failure instanceof Error)) return String(failure)
  const cause = (failure as { cause?: { code?: string; message?: string } }).cause
  return cause?.code ?? cause?.message ?? failure.message
}
