import { RingKitError } from '@ringkit/protocol'
import type { App, AppStore } from '../store/types.ts'

/** How many apps are remembered; the least recently confirmed goes first. */
const MAX_APPS = 1000
/** How long after the store last confirmed an app's credentials they still open the door while it is away. */
export const APP_OUTAGE_GRACE_MS = 5 * 60_000

interface Confirmed {
  app: App
  at: number
}

/**
 * The credentials of apps whose CheckSum this node verified lately, so that a signed request that
 * needs nothing else of the store (`/metrics`) still passes while the store is unreachable. The
 * store stays the truth: it is read first every time, and a read that finds the app changed or
 * gone replaces or drops what is kept. Only when it fails with STORE_UNAVAILABLE is the kept app
 * used, and only within `APP_OUTAGE_GRACE_MS` of the store last confirming it.
 */
export class VerifiedApps {
  readonly #apps = new Map<string, Confirmed>()
  readonly #store: AppStore
  readonly #now: () => number

  constructor(store: AppStore, now: () => number = Date.now) {
    this.#store = store
    this.#now = now
  }

  /** The app under `appKey`; `confirm` notes it once its CheckSum verified. */
  async get(appKey: string): Promise<{ app: App | undefined; confirm: () => void }> {
    let app: App | undefined
    try {
      app = await this.#store.getApp(appKey)
    } catch (error) {
      const kept = this.#apps.get(appKey)
      const usable = kept && this.#now() - kept.at <= APP_OUTAGE_GRACE_MS
      if (!(error instanceof RingKitError) || error.code !== 'STORE_UNAVAILABLE' || !usable) throw error
      return { app: kept.app, confirm: () => {} }
    }
    const kept = this.#apps.get(appKey)
    if (kept && (!app || !sameCredentials(kept.app, app))) this.#apps.delete(appKey)
    return { app, confirm: () => app && this.#keep(app) }
  }

  #keep(app: App): void {
    this.#apps.delete(app.appKey)
    if (this.#apps.size >= MAX_APPS) this.#apps.delete(this.#apps.keys().next().value ?? '')
    this.#apps.set(app.appKey, { app, at: this.#now() })
  }

  get size(): number {
    return this.#apps.size
  }
}

const sameCredentials = (a: App, b: App) =>
  a.appSecret === b.appSecret && a.name === b.name && a.multiDevice === b.multiDevice
