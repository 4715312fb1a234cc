import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { DemoError } from './errors.ts'

interface Asset {
  body: Buffer
  type: string
  etag: string
}

const HTML = 'text/html; charset=utf-8'
const JS = 'text/javascript; charset=utf-8'

// The demo ships inside the RingKit repository: its pages and the UI kit are sources beside it.
const INDEX_HTML = fileURLToPath(new URL('../web/index.html', import.meta.url))
const APP_ENTRY = fileURLToPath(new URL('../web/main.ts', import.meta.url))

/**
 * `/` the demo page, `/app.js` its script and `/sw.js` its service worker (the RingKit server itself
 * serves `/ringkit.js` and the `/ringkit-sw.js` that the worker imports).
 */
export function registerStaticRoutes(scope: FastifyInstance): void {
  const appBundle = once(() => bundle(APP_ENTRY))

  // Read on each request: the page is small and edits to it show up without a restart.
  scope.get('/', async (request, reply) => sendAsset(request, reply, await readPage()))
  scope.get('/app.js', async (request, reply) => sendAsset(request, reply, await appBundle()))
  // At the root, so that its scope is the whole demo: what a notification opens is its page.
  scope.get('/sw.js', async (_request, reply) =>
    reply.header('cache-control', 'no-cache').type(JS).send("importScripts('/ringkit-sw.js')\n"),
  )
}

async function readPage(): Promise<Asset> {
  const body = await readFile(INDEX_HTML).catch((error: unknown) => {
    throw new DemoError('NOT_FOUND', 'the demo page is missing', { cause: error })
  })
  return asset(body, HTML)
}

/** One ES module for current browsers, everything bundled, built in memory. */
async function bundle(entry: string): Promise<Asset> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'safari16'],
    // The RingKit packages as TypeScript source, as everywhere in this repository.
    conditions: ['@ringkit/source'],
    minify: true,
    write: false,
    logLevel: 'silent',
  })
  const output = result.outputFiles[0]
  if (!output) throw new Error(`esbuild wrote nothing for ${entry}`)
  return asset(Buffer.from(output.contents), JS)
}

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha1').update(body).digest('base64url')}"` }
}

/** no-cache + ETag: browsers revalidate each load and get a 304 while nothing changed. */
function sendAsset(request: FastifyRequest, reply: FastifyReply, file: Asset): FastifyReply {
  reply
    .header('content-type', file.type)
    .header('etag', file.etag)
    .header('cache-control', 'no-cache')
    .header('x-content-type-options', 'nosniff')
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send()
  return reply.send(file.body)
}

/** Builds once; a failed build is retried on the next request instead of being cached. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined
  return () => {
    pending ??= make().catch((error: unknown) => {
      pending = undefined
      throw error
    })
    return pending
  }
}
