import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { verifyWebhook, type VerifiedWebhook } from '../src/index.ts'

/** One POST as the receiver got it, verified against the endpoint's secret once it is known. */
export interface Received {
  path: string
  headers: IncomingHttpHeaders
  body: string
  at: number
}

/** How the receiver answers a POST: a status (and headers), or `'hang'` to never answer. */
export type Answer = { status: number; headers?: Record<string, string> } | 'hang'

/**
 * A real HTTP server on loopback playing an app backend: it keeps every POST and answers as
 * `answer` says (200 unless told otherwise).
 */
export async function webhookReceiver() {
  const received: Received[] = []
  const hanging = new Set<ServerResponse>()
  let answer: (r: Received) => Answer = () => ({ status: 200 })
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const r = {
        path: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
      }
      received.push(r)
      const a = answer(r)
      if (a === 'hang') {
        hanging.add(response)
        return
      }
      response.writeHead(a.status, a.headers).end('ok')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    base,
    received,
    answer(how: (r: Received) => Answer) {
      answer = how
    },
    /** What reached `path`, each checked with `secret` (throws on a bad signature). */
    verified(path: string, secret: string): Array<VerifiedWebhook & { at: number }> {
      return received
        .filter((r) => r.path === path)
        .map((r) => ({ ...verifyWebhook(secret, r.headers, r.body), at: r.at }))
    },
    async close() {
      for (const response of hanging) response.destroy()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export type WebhookReceiver = Awaited<ReturnType<typeof webhookReceiver>>
