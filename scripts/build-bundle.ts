// Writes /ringkit.js and its map into @ringkit/ui's dist (run by that package's build).
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { BUNDLE_NAME, buildBrowserBundle } from './browser-bundle.ts'

const outdir = new URL('../packages/ui/dist/', import.meta.url).pathname
const { code, map } = await buildBrowserBundle(outdir)
mkdirSync(outdir, { recursive: true })
writeFileSync(join(outdir, BUNDLE_NAME), code)
writeFileSync(join(outdir, `${BUNDLE_NAME}.map`), map)
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`
console.log(`${BUNDLE_NAME}: ${kb(code.byteLength)}, ${kb(gzipSync(code).byteLength)} gzip`)
