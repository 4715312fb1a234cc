// The browser bundle served as /ringkit.js: the client SDK and the UI kit as one minified ES module
// with its source map. One recipe for both uses: the build writes it into @ringkit/ui's dist, and a
// server run from TypeScript source builds it in memory, so edits show up without a build step.
import { build } from 'esbuild'

export interface BrowserBundle {
  code: Uint8Array
  map: Uint8Array
}

export const BUNDLE_NAME = 'ringkit.js'
const ENTRY = new URL('../packages/ui/src/browser.ts', import.meta.url).pathname

export async function buildBrowserBundle(outdir: string): Promise<BrowserBundle> {
  const result = await build({
    entryPoints: { ringkit: ENTRY },
    outdir,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'safari16'],
    // The repo's packages as TypeScript source, not a dist that may be stale or missing.
    conditions: ['@ringkit/source'],
    minify: true,
    sourcemap: 'linked',
    sourcesContent: true,
    legalComments: 'none',
    write: false,
    logLevel: 'silent',
  })
  const file = (suffix: string) => result.outputFiles.find((f) => f.path.endsWith(suffix))?.contents
  const code = file(`/${BUNDLE_NAME}`)
  const map = file(`/${BUNDLE_NAME}.map`)
  if (!code || !map) throw new Error(`esbuild wrote no ${BUNDLE_NAME} and map`)
  return { code, map }
}
