import { chmodSync, closeSync, mkdirSync, openSync, readdirSync } from 'node:fs'
import { join } from 'node:path'

/**
 * The data dir holds app secrets, accounts and call records: only the server's own user may enter
 * it. Makes it 0700, and each database named in `databases` 0600 if it exists already (an older
 * version left them readable), with its -wal, -shm and -journal files. Other files are left alone:
 * the dir may be shared with things that are not RingKit's.
 */
export function makePrivateDir(dir: string, databases: readonly string[]): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  chmodSync(dir, 0o700)
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const ours = databases.some((name) => entry.name === name || entry.name.startsWith(`${name}-`))
    if (entry.isFile() && ours) chmodSync(join(dir, entry.name), 0o600)
  }
}

/**
 * Creates the file 0600 if it is missing. For an SQLite database that is enough for its -wal and
 * -shm files as well: SQLite creates them with the permissions of the database file.
 */
export function makePrivateFile(path: string): void {
  closeSync(openSync(path, 'a', 0o600))
  chmodSync(path, 0o600)
}
