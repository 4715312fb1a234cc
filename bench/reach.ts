/**
 * Reach benchmark: how soon a call to an account whose page is closed reaches the push service,
 * and how fast webhook events reach an app backend, each next to its baseline measured in the same
 * run: a bare HTTP POST of a push of the same size (encrypted and VAPID-signed by web-push), and
 * bare POSTs of webhook bodies to the same receiver with the dispatcher's concurrency.
 * Run: npx tsx bench/reach.ts    Options (env): PUSHES=200  CALLS=600  PAIRS=20
 */
import webpush from 'web-push'
import { pino } from 'pino'
import { pushRegistration, pushService } from '../packages/server/test/push-service.ts'
import { webhookReceiver } from '../packages/server/test/webhook-receiver.ts'
import { startTestServer, TestDevice } from '../packages/server/test/support.ts'
import { pct } from './percentile.ts'

const PUSHES = Number(process.env.PUSHES ?? 200)
const CALLS = Number(process.env.CALLS ?? 600)
/** Callers placing the webhook run's calls at once. */
const PAIRS = Number(process.env.PAIRS ?? 20)
/** The dispatcher's attempts in flight per node (webhooks/dispatcher.ts). */
const CONCURRENCY = 32

const errors: string[] = []
const ms = (v: number) => v.toFixed(2)

async function main() {
  const push = await pushService()
  const receiver = await webhookReceiver()
  const server = await startTestServer({
    logger: pino({ level: 'silent' }),
    push: { endpointAllowed: (url) => url.origin === push.base },
    // One caller places every call: its own budget would stop the run, not measure it.
    limits: { invites: { perSecond: 10_000, burst: 10_000 }, rest: { perSecond: 10_000, burst: 10_000 } },
  })
  try {
    const pushes = await pushLatency(server, push)
    const pushBaseline = await rawPushes(push)
    const hooks = await webhookDelivery(server, receiver)
    const hookBaseline = await rawPosts(receiver, hooks.events)
    console.log(`\n## bench/reach — ${PUSHES} pushed calls, ${CALLS} calls with a webhook endpoint\n`)
    console.log('| measure | RingKit | baseline | ratio |')
    console.log('| --- | --- | --- | --- |')
    const row = (what: string, a: number, b: number, unit: string) =>
      console.log(`| ${what} | ${ms(a)} ${unit} | ${ms(b)} ${unit} | ${(a / b).toFixed(2)}× |`)
    row('call → push service, p50', pct(pushes, 50), pct(pushBaseline, 50), 'ms')
    row('call → push service, p99', pct(pushes, 99), pct(pushBaseline, 99), 'ms')
    row(
      'call → webhook call.ringing (one call at a time), p50',
      pct(hooks.latency, 50),
      pct(hookBaseline.latency, 50),
      'ms',
    )
    row(
      'call → webhook call.ringing (one call at a time), p99',
      pct(hooks.latency, 99),
      pct(hookBaseline.latency, 99),
      'ms',
    )
    console.log(
      `| webhook backlog drained, events/s (${hooks.events}) | ${hooks.perSecond.toFixed(0)} | ${hookBaseline.perSecond.toFixed(0)} | ${(hooks.perSecond / hookBaseline.perSecond).toFixed(2)}× |`,
    )
    console.log(
      '\nBaselines: a POST of a push of the same size, encrypted and signed by web-push, to the same push service;' +
        ' webhook bodies POSTed to the same receiver, one at a time for latency and' +
        ` ${CONCURRENCY} at a time (the dispatcher's concurrency) for throughput.` +
        ` Webhook events/s: a backlog of ${CALLS} calls' events (held by a 503 with one Retry-After instant),` +
        ' from that instant to the last delivery.',
    )
    if (errors.length > 0) {
      console.log(`\nFAIL: ${errors.length} errors: ${errors.slice(0, 5).join('; ')}`)
      process.exitCode = 1
    }
  } finally {
    await TestDevice.closeAll()
    await server.close()
    await push.close()
    await receiver.close()
  }
}

/** A call to an account with no device online but a push subscription, until the push service has the ring. */
async function pushLatency(
  server: Awaited<ReturnType<typeof startTestServer>>,
  push: Awaited<ReturnType<typeof pushService>>,
) {
  const caller = await TestDevice.online(server, 'reach-caller')
  const samples: number[] = []
  for (let i = 0; i < PUSHES + 10; i++) {
    const accid = `reach-away-${i}`
    const device = await TestDevice.online(server, accid)
    const subscription = push.subscription()
    await device.kit.enablePush({ serviceWorker: pushRegistration(subscription).reg })
    device.kit.disconnect()
    const before = push.delivered.length
    const started = performance.now()
    const call = await caller.kit.call({ to: accid, type: 'audio' })
    const deadline = Date.now() + 5000
    while (!push.delivered.slice(before).some((p) => p.payload.callId === call.callId) && Date.now() < deadline) {
      await new Promise((r) => setImmediate(r))
    }
    const took = performance.now() - started
    if (!push.delivered.slice(before).some((p) => p.payload.callId === call.callId))
      errors.push(`no push for call ${i}`)
    // The first ten warm up the code paths.
    else if (i >= 10) samples.push(took)
    await call.cancel()
    await caller.next('record', (r) => r.callId === call.callId)
  }
  if (push.failures.length > 0) errors.push(...push.failures)
  return samples
}

/** The same push, encrypted and VAPID-signed by web-push, POSTed straight to the push service. */
async function rawPushes(push: Awaited<ReturnType<typeof pushService>>) {
  const vapid = { subject: 'mailto:bench@ringkit.invalid', ...webpush.generateVAPIDKeys() }
  const subscription = push.subscription()
  const payload = JSON.stringify({
    kind: 'ring',
    callId: crypto.randomUUID(),
    caller: 'reach-caller',
    name: 'reach-caller',
    avatar: '',
    type: 'audio',
    isGroup: false,
    expiresAt: Date.now() + 30_000,
    lang: 'en',
    declineUrl: 'http://127.0.0.1:3000/v1/push/decline',
    declineToken: 'x'.repeat(180),
  })
  const samples: number[] = []
  for (let i = 0; i < PUSHES + 10; i++) {
    const started = performance.now()
    const request = webpush.generateRequestDetails(subscription, payload, {
      vapidDetails: vapid,
      TTL: 30,
      urgency: 'high',
      topic: 'bench',
      contentEncoding: 'aes128gcm',
    })
    const response = await fetch(request.endpoint, {
      method: 'POST',
      headers: request.headers as Record<string, string>,
      body: new Uint8Array(request.body ?? Buffer.alloc(0)),
    })
    await response.arrayBuffer()
    if (!response.ok) errors.push(`raw push: ${response.status}`)
    if (i >= 10) samples.push(performance.now() - started)
  }
  return samples
}

/**
 * Latency: calls placed one after the other, until the backend has each one's `call.ringing`.
 * Throughput: `CALLS` calls placed by `PAIRS` callers at once while the backend answers 503 with a
 * `Retry-After` naming one instant; from then on every call's three events are due at once, with
 * nothing else running, and the backlog drains as fast as the dispatcher goes.
 */
async function webhookDelivery(
  server: Awaited<ReturnType<typeof startTestServer>>,
  receiver: Awaited<ReturnType<typeof webhookReceiver>>,
) {
  await server.rest('POST', '/v1/webhooks', { url: `${receiver.base}/latency`, events: ['call.ringing'] })
  const caller = await TestDevice.online(server, 'hook-caller')
  const callee = await TestDevice.online(server, 'hook-callee')
  const latency: number[] = []
  for (let i = 0; i < PUSHES + 10; i++) {
    const started = performance.now()
    const call = await caller.kit.call({ to: callee.accid, type: 'audio' })
    while (!receiver.received.some((r) => r.path === '/latency' && r.body.includes(call.callId))) {
      await new Promise((r) => setImmediate(r))
    }
    if (i >= 10) latency.push(performance.now() - started)
    await call.cancel()
    await caller.next('record', (r) => r.callId === call.callId)
  }
  const list = (await server.rest('GET', '/v1/webhooks')).body.webhooks as Array<{ id: string }>
  for (const { id } of list) await server.rest('DELETE', `/v1/webhooks/${id}`)

  const due = Date.now() + 15_000
  const dueAt = new Date(Math.ceil(due / 1000) * 1000)
  let draining = false
  receiver.answer((r) =>
    r.path === '/drain' && !draining
      ? { status: 503, headers: { 'retry-after': dueAt.toUTCString() } }
      : { status: 200 },
  )
  await server.rest('POST', '/v1/webhooks', { url: `${receiver.base}/drain` })
  await Promise.all(
    Array.from({ length: PAIRS }, async (_, p) => {
      const from = await TestDevice.online(server, `drain-caller-${p}`)
      const to = await TestDevice.online(server, `drain-callee-${p}`)
      for (let i = p; i < CALLS; i += PAIRS) {
        const call = await from.kit.call({ to: to.accid, type: 'audio' })
        await call.cancel()
        await from.next('record', (r) => r.callId === call.callId)
      }
    }),
  )
  if (Date.now() >= dueAt.getTime()) errors.push('the calls took longer than the backlog was held: raise the hold')
  while (Date.now() < dueAt.getTime()) await new Promise((r) => setTimeout(r, 10))
  draining = true
  const events = CALLS * 3
  const delivered = () => receiver.received.filter((r) => r.path === '/drain' && r.at >= dueAt.getTime())
  const deadline = Date.now() + 60_000
  while (delivered().length < events && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  const got = delivered()
  if (got.length !== events) errors.push(`${got.length} of ${events} webhook events delivered after the hold`)
  const span = (got.at(-1)?.at ?? 0) - dueAt.getTime()
  return { latency, events: got.length, perSecond: (got.length / Math.max(span, 1)) * 1000 }
}

/** Webhook-sized bodies POSTed straight to the receiver, `CONCURRENCY` at a time. */
async function rawPosts(receiver: Awaited<ReturnType<typeof webhookReceiver>>, count: number) {
  const body = JSON.stringify({
    type: 'call.ended',
    timestamp: new Date().toISOString(),
    data: { callId: crypto.randomUUID(), seq: 3, record: { status: 2, members: [] } },
  })
  const post = async (n: number) => {
    const response = await fetch(`${receiver.base}/raw`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'webhook-id': `msg_${n}` },
      body,
    })
    await response.arrayBuffer()
    if (!response.ok) errors.push(`raw POST: ${response.status}`)
  }
  // Latency one POST at a time, as a call's events go; throughput CONCURRENCY at a time, as the dispatcher's.
  const latency: number[] = []
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now()
    await post(i)
    latency.push(performance.now() - t0)
  }
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count) await post(++next)
    }),
  )
  return { latency, perSecond: (count / (performance.now() - started)) * 1000 }
}

await main()
