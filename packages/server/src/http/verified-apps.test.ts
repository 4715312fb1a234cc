import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { RingKitError } from '@ringkit/protocol'
import type { App, AppStore } from '../store/types.ts'
import { APP_OUTAGE_GRACE_MS, VerifiedApps } from './verified-apps.ts'

/** Apps in a map, and a switch that makes every read fail as an unreachable database does. */
function apps() {
  const kept = new Map<string, App>()
  const state = { down: false }
  const store: AppStore = {
    async getApp(appKey) {
      if (state.down) throw new RingKitError('STORE_UNAVAILABLE')
      return kept.get(appKey)
    },
    async putApp(app) {
      kept.set(app.appKey, app)
    },
    async getSetting() {
      return undefined
    },
    async putSetting() {},
  }
  return { store, state, kept }
}

const app = (appKey: string, appSecret = 's'.repeat(48)): App => ({
  appKey,
  appSecret,
  name: appKey,
  multiDevice: true,
  createdAt: 0,
})

const unavailable = (e: unknown) => e instanceof RingKitError && e.code === 'STORE_UNAVAILABLE'

describe('VerifiedApps', () => {
  it('an app whose CheckSum was verified is served while the store is away, within the grace only', async () => {
    const { store, state } = apps()
    let now = 1_000_000
    const verified = new VerifiedApps(store, () => now)
    await store.putApp(app('a'))
    await store.putApp(app('b'))
    ;(await verified.get('a')).confirm()
    await verified.get('b') // read, but its CheckSum never passed
    state.down = true
    assert.deepEqual((await verified.get('a')).app, app('a'))
    await assert.rejects(verified.get('b'), unavailable)
    now += APP_OUTAGE_GRACE_MS + 1
    await assert.rejects(verified.get('a'), unavailable)
  })

  it('a read that finds the app changed or gone drops what was kept', async () => {
    const { store, state, kept } = apps()
    const verified = new VerifiedApps(store)
    await store.putApp(app('a'))
    ;(await verified.get('a')).confirm()
    await store.putApp(app('a', 'n'.repeat(48)))
    assert.equal((await verified.get('a')).app?.appSecret, 'n'.repeat(48))
    state.down = true
    await assert.rejects(verified.get('a'), unavailable, 'the old secret is not served')
    state.down = false
    ;(await verified.get('a')).confirm()
    assert.equal(verified.size, 1)
    kept.delete('a')
    assert.equal((await verified.get('a')).app, undefined)
    assert.equal(verified.size, 0)
  })

  it('keeps at most 1000 apps, dropping the least recently confirmed', async () => {
    const { store, state } = apps()
    const verified = new VerifiedApps(store)
    for (let i = 0; i < 1001; i++) {
      await store.putApp(app(`app-${i}`))
      ;(await verified.get(`app-${i}`)).confirm()
    }
    assert.equal(verified.size, 1000)
    state.down = true
    await assert.rejects(verified.get('app-0'), unavailable)
    assert.deepEqual((await verified.get('app-1')).app, app('app-1'))
  })
})
