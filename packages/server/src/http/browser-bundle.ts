import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { BUNDLE_ROUTES } from './api.ts'

interface Asset {
  body: Buffer
  type: string
  etag: string
}

interface Bundle {
  code: Asset
  map: Asset
}

interface BundleRecipe {
  buildBrowserBundle(outdir: string): Promise<{ code: Uint8Array; map: Uint8Array }>
}

const JS = 'text/javascript; charset=utf-8'
const JSON_TYPE = 'application/json; charset=utf-8'

/**
 * `/ringkit.js`, the client SDK and the UI kit as one ES module that any site loads with
 * `<script type="module">`, and its source map. Served by the API server itself, so an API-only
 * server (`--no-demo`) still serves what every embedding page imports.
 */
export function registerBrowserBundle(http: FastifyInstance): void {
  const bundle = once(loadBundle)
  const send = (pick: (b: Bundle) => Asset) => async (request: FastifyRequest, reply: FastifyReply) => {
    // Other sites' pages import it: readable from any origin, no credentials involved.
    reply.header('access-control-allow-origin', '*').header('cross-origin-resource-policy', 'cross-origin')
    return sendAsset(request, reply, pick(await bundle()))
  }
  // The paths, and what /v1/openapi.json says of them, come from the route table.
  http.get(
    BUNDLE_ROUTES.code.path,
    send((b) => b.code),
  )
  http.get(
    BUNDLE_ROUTES.map.path,
    send((b) => b.map),
  )
}

/**
 * Compiled, the server reads the file that @ringkit/ui's build wrote. Run from TypeScript source
 * (inside the RingKit repository), it builds the same bundle in memory from the sources beside it.
 */
async function loadBundle(): Promise<Bundle> {
  if (import.meta.url.endsWith('.ts')) {
    // A computed specifier: the compiled server neither ships nor type-checks the repo's build script.
    const recipe = new URL('../../../../scripts/browser-bundle.ts', import.meta.url).href
    const { buildBrowserBundle } = (await import(recipe)) as BundleRecipe
    const { code, map } = await buildBrowserBundle('.')
    return { code: asset(Buffer.from(code), JS), map: asset(Buffer.from(map), JSON_TYPE) }
  }
  const file = new URL(import.meta.resolve('@ringkit/ui/ringkit.js'))
  const [code, map] = await Promise.all([readFile(file), readFile(new URL(`${file.href}.map`))])
  return { code: asset(code, JS), map: asset(map, JSON_TYPE) }
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

/** Loads once; a failed load is retried on the next request instead of being cached. */
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
