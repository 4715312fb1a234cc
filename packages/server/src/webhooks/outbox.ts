import type { Logger } from 'pino'
import type { WebhookEndpoint, WebhookStore } from '../store/types.ts'
import type { WebhookDispatcher } from './dispatcher.ts'
import { wants, type NewWebhookEvent } from './events.ts'

/** How long a node trusts its read of an app's endpoints; one registered on another node counts after this. */
const ENDPOINTS_FRESH_MS = 1_000
/** Apps whose endpoints are remembered at once; past it the memory starts over. */
const REMEMBERED_APPS = 10_000

/**
 * What the engine tells webhooks of live calls. An app with no endpoint costs no write: its
 * endpoints are read at most once a second per node. A live event that cannot be written is
 * logged and the call goes on; a call's end is written with its record, whatever this says.
 */
export class WebhookOutbox {
  readonly #store: WebhookStore
  readonly #dispatcher: WebhookDispatcher
  readonly #log: Pick<Logger, 'warn'>
  readonly #endpoints = new Map<string, { at: number; endpoints: Promise<WebhookEndpoint[]> }>()

  constructor(store: WebhookStore, dispatcher: WebhookDispatcher, log: Pick<Logger, 'warn'>) {
    this.#store = store
    this.#dispatcher = dispatcher
    this.#log = log
  }

  async add(appKey: string, callId: string, events: NewWebhookEvent[]): Promise<void> {
    try {
      const endpoints = await this.#enabled(appKey)
      if (!events.some((event) => endpoints.some((e) => wants(e.events, event.type)))) return
      await this.#store.addWebhookEvents(appKey, callId, events, Date.now())
      this.#dispatcher.nudge()
    } catch (error) {
      this.#log.warn({ err: error, callId }, 'webhook events of a live call could not be queued')
    }
  }

  /** Whether the app's backend takes `call.ringing`, and so can reach a callee with no device online. */
  async ringsOffline(appKey: string): Promise<boolean> {
    const endpoints = await this.#enabled(appKey).catch(() => [])
    return endpoints.some((e) => wants(e.events, 'call.ringing'))
  }

  recorded(): void {
    this.#dispatcher.nudge()
  }

  /** The app's endpoints changed on this node: read them again next time. */
  forget(appKey: string): void {
    this.#endpoints.delete(appKey)
  }

  #enabled(appKey: string): Promise<WebhookEndpoint[]> {
    const now = Date.now()
    const known = this.#endpoints.get(appKey)
    if (known && now - known.at < ENDPOINTS_FRESH_MS) return known.endpoints
    if (this.#endpoints.size >= REMEMBERED_APPS) this.#endpoints.clear()
    const endpoints = this.#store.listWebhooks(appKey).then((all) => all.filter((e) => !e.disabled))
    this.#endpoints.set(appKey, { at: now, endpoints })
    endpoints.catch(() => this.#endpoints.delete(appKey))
    return endpoints
  }
}
