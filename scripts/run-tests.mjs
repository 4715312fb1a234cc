// Runs every test file with Node's test runner (TypeScript through tsx), one file at a time per core.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

function find(dir) {
  let found = []
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules') continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) found = found.concat(find(path))
    else if (name.endsWith('.test.ts')) found.push(path)
  }
  return found
}

const filter = process.argv[2]
const files = ['packages', 'apps']
  .filter((root) => existsSync(root))
  .flatMap((root) => find(root))
  .filter((f) => !filter || f.includes(filter))
  .sort()
const args = ['--import', 'tsx', '--test', '--test-concurrency=2', ...files]
const result = spawnSync(process.execPath, args, { stdio: 'inherit' })
process.exit(result.status ?? 1)
