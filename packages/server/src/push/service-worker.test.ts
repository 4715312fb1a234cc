import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runInNewContext } from 'node:vm'
import { SERVICE_WORKER_SOURCE } from './service-worker.ts'

/**
 * ringkit-sw.js run in a sandbox standing in for a service worker's global scope: what it shows,
 * opens, focuses and fetches is recorded. Headless Chromium cannot click a notification, so the
 * click handlers are driven here; the browser test drives the rest in a real worker.
 */
function sandbox(windows: Array<{ url: string }> = []) {
  const calls: string[] = []
  const shown: Array<{ title: string; options: Record<string, unknown>; closed: boolean }> = []
  const listeners = new Map<string, (event: unknown) => void>()
  const self = {
    registration: {
      scope: 'https://app.example/calls/',
      async showNotification(title: string, options: Record<string, unknown>) {
        for (const s of shown) if (s.options.tag === options.tag) s.closed = true
        shown.push({ title, options, closed: false })
      },
      async getNotifications({ tag }: { tag: string }) {
        return shown
          .filter((s) => !s.closed && s.options.tag === tag)
          .map((s) => ({ data: s.options.data, close: () => (s.closed = true) }))
      },
    },
    clients: {
      async matchAll() {
        return windows.map((w) => ({
          url: w.url,
          async navigate(url: string) {
            calls.push(`navigate ${url}`)
            return this
          },
          async focus() {
            calls.push(`focus ${w.url}`)
          },
        }))
      },
      async openWindow(url: string) {
        calls.push(`open ${url}`)
      },
    },
    addEventListener: (name: string, listener: (event: unknown) => void) => listeners.set(name, listener),
    ringkit: undefined as unknown as {
      onPush(payload: unknown): Promise<void>
      onClick(notification: unknown, action: string): Promise<void>
    },
  }
  const fetch = async (url: string, init: { body: string }) => {
    calls.push(`fetch ${url} ${init.body}`)
    return { ok: true }
  }
  runInNewContext(SERVICE_WORKER_SOURCE, { self, fetch, URL })
  return { self, calls, shown, listeners, live: () => shown.filter((s) => !s.closed) }
}

const ring = {
  kind: 'ring',
  callId: 'c-1',
  caller: 'alice',
  name: 'Alice',
  avatar: '',
  type: 'video',
  isGroup: false,
  expiresAt: 0,
  lang: 'en',
  declineUrl: 'https://ringkit.example/v1/push/decline',
  declineToken: 'tok',
}

describe('ringkit-sw.js', () => {
  it('rings with Accept and Decline, kept until acted on, tagged with the callId', async () => {
    const sw = sandbox()
    assert.ok(sw.listeners.has('push') && sw.listeners.has('notificationclick'))
    await sw.self.ringkit.onPush(ring)
    const [n] = sw.live()
    assert.equal(n?.title, 'Alice is video calling you')
    assert.equal(n?.options.tag, 'c-1')
    assert.equal(n?.options.requireInteraction, true)
    // Made in the sandbox's realm: compared by value.
    assert.equal((n?.options.actions as Array<{ action: string }>).map((a) => a.action).join(), 'accept,decline')
  })

  it('Decline posts the token and opens nothing; the notification closes', async () => {
    const sw = sandbox()
    await sw.self.ringkit.onPush(ring)
    const [n] = await sw.self.registration.getNotifications({ tag: 'c-1' })
    await sw.self.ringkit.onClick(n, 'decline')
    assert.deepEqual(sw.calls, ['fetch https://ringkit.example/v1/push/decline {"token":"tok"}'])
    assert.deepEqual(sw.live(), [])
  })

  it('Accept or a click opens the app at ?ringkitCall= when no window is open', async () => {
    for (const action of ['accept', '']) {
      const sw = sandbox()
      await sw.self.ringkit.onPush(ring)
      const [n] = await sw.self.registration.getNotifications({ tag: 'c-1' })
      await sw.self.ringkit.onClick(n, action)
      assert.deepEqual(sw.calls, ['open https://app.example/calls/?ringkitCall=c-1'])
    }
  })

  it("Accept moves an open window of the app to the call and focuses it; another site's window is left alone", async () => {
    const sw = sandbox([{ url: 'https://other.example/' }, { url: 'https://app.example/calls/history' }])
    await sw.self.ringkit.onPush(ring)
    const [n] = await sw.self.registration.getNotifications({ tag: 'c-1' })
    await sw.self.ringkit.onClick(n, 'accept')
    assert.deepEqual(sw.calls, [
      'navigate https://app.example/calls/?ringkitCall=c-1',
      'focus https://app.example/calls/history',
    ])
  })

  it('a missed call replaces the ring in the device language; a click on it opens the app without answering', async () => {
    const sw = sandbox()
    await sw.self.ringkit.onPush({ ...ring, lang: 'zh-CN' })
    await sw.self.ringkit.onPush({
      kind: 'missed',
      callId: 'c-1',
      caller: 'alice',
      name: 'Alice',
      avatar: '',
      lang: 'zh-CN',
    })
    const live = sw.live()
    assert.deepEqual(
      live.map((s) => s.title),
      ['来自 Alice 的未接来电'],
    )
    const [n] = await sw.self.registration.getNotifications({ tag: 'c-1' })
    await sw.self.ringkit.onClick(n, '')
    assert.deepEqual(sw.calls, ['open https://app.example/calls/'])
  })

  it('a clear takes the ring away; a push of something else shows nothing', async () => {
    const sw = sandbox()
    await sw.self.ringkit.onPush(ring)
    await sw.self.ringkit.onPush({
      kind: 'clear',
      callId: 'c-1',
      caller: 'alice',
      name: 'Alice',
      avatar: '',
      lang: 'en',
    })
    assert.deepEqual(sw.live(), [])
    await sw.self.ringkit.onPush({ hello: 'world' })
    await sw.self.ringkit.onPush(undefined)
    assert.deepEqual(sw.live(), [])
  })
})
