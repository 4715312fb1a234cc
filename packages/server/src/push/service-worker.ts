import type { FastifyInstance } from 'fastify'
import { BUNDLE_ROUTES } from '../http/api.ts'

/**
 * `ringkit-sw.js`: what an app's service worker imports to ring while no page of it is open. It
 * shows an incoming call with Accept and Decline (one notification per call, its tag the callId,
 * kept until acted on), turns it into a missed call or takes it away when a later push says the
 * call is over, declines without opening a page, and opens or focuses the app at
 * `?ringkitCall=<callId>` on Accept or a click, where the SDK answers after login.
 *
 * Plain JavaScript with no imports, written as the browser runs it; its handlers are also on
 * `self.ringkit`, so that a test (or an app) can drive them.
 */
export const SERVICE_WORKER_SOURCE = String.raw`'use strict'
;(() => {
  const TEXT = {
    en: {
      audio: (name) => name + ' is calling you',
      video: (name) => name + ' is video calling you',
      group: 'Group call',
      accept: 'Accept',
      decline: 'Decline',
      missed: (name) => 'Missed call from ' + name,
      missedBody: 'Tap to call back',
    },
    'zh-CN': {
      audio: (name) => name + ' 邀请你语音通话',
      video: (name) => name + ' 邀请你视频通话',
      group: '群组通话',
      accept: '接听',
      decline: '拒绝',
      missed: (name) => '来自 ' + name + ' 的未接来电',
      missedBody: '点击回拨',
    },
  }
  const textFor = (lang) => TEXT[lang] || (String(lang).toLowerCase().startsWith('zh') ? TEXT['zh-CN'] : TEXT.en)

  /** Shows, turns or takes away the call's notification, as the push says. */
  async function onPush(payload) {
    if (!payload || typeof payload.callId !== 'string') return
    const registration = self.registration
    const t = textFor(payload.lang)
    const icon = payload.avatar || undefined
    if (payload.kind === 'ring') {
      await registration.showNotification(t[payload.type === 'video' ? 'video' : 'audio'](payload.name), {
        tag: payload.callId,
        body: payload.isGroup ? t.group : '',
        icon,
        requireInteraction: true,
        renotify: true,
        actions: [
          { action: 'accept', title: t.accept },
          { action: 'decline', title: t.decline },
        ],
        data: payload,
      })
      return
    }
    const shown = await registration.getNotifications({ tag: payload.callId })
    if (payload.kind === 'clear') {
      for (const notification of shown) notification.close()
      return
    }
    await registration.showNotification(t.missed(payload.name), {
      tag: payload.callId,
      body: t.missedBody,
      icon,
      data: payload,
    })
  }

  /** Decline: ends the call from here. Accept or a click: opens or focuses the app to answer it. */
  async function onClick(notification, action) {
    const payload = notification.data || {}
    notification.close()
    if (payload.kind === 'ring' && action === 'decline') {
      await fetch(payload.declineUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ token: payload.declineToken }),
      }).catch(() => undefined)
      return
    }
    const url = new URL(self.registration.scope)
    if (payload.kind === 'ring') url.searchParams.set('ringkitCall', payload.callId)
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true })
    const open = windows.find((client) => new URL(client.url).origin === url.origin)
    if (open) {
      const moved = payload.kind === 'ring' ? await open.navigate(url.href).catch(() => open) : open
      await (moved || open).focus()
      return
    }
    await self.clients.openWindow(url.href)
  }

  self.ringkit = { onPush, onClick, textFor }
  self.addEventListener('push', (event) => {
    let payload
    try {
      payload = event.data ? event.data.json() : undefined
    } catch {
      payload = undefined
    }
    event.waitUntil(onPush(payload))
  })
  self.addEventListener('notificationclick', (event) => {
    event.waitUntil(onClick(event.notification, event.action))
  })
})()
`

export function registerServiceWorker(http: FastifyInstance): void {
  http.get(BUNDLE_ROUTES.serviceWorker.path, async (_request, reply) =>
    reply
      .header('cache-control', 'no-cache')
      .header('access-control-allow-origin', '*')
      .header('cross-origin-resource-policy', 'cross-origin')
      .type('text/javascript; charset=utf-8')
      .send(SERVICE_WORKER_SOURCE),
  )
}
