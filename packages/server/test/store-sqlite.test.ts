import { after, describe } from 'node:test'
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { openSqliteStore } from '../src/store/sqlite.ts'
import { storeContract } from './store-contract.ts'
import { testDataDir } from './support.ts'

const root = testDataDir()
after(() => rmSync(root, { recursive: true, force: true }))
let runs = 0

describe('SQLite store', () => {
  storeContract(() => {
    const dir = join(root, String(++runs))
    return { open: async () => openSqliteStore(dir), again: async () => openSqliteStore(dir) }
  })
})
