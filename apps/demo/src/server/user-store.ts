import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { PasswordHash } from './passwords.ts'
import type { DemoUser } from './types.ts'

export interface UserRow {
  id: number
  username: string
  displayName: string
  accid: string
  createdAt: number
}

export interface NewUser {
  username: string
  displayName: string
  accid: string
  password: PasswordHash
}

/** The demo's own users and sessions, in `demo.sqlite` beside RingKit's database. */
export interface UserStore {
  /** undefined: the username is taken (case-insensitively). */
  createUser(user: NewUser, now: number): UserRow | undefined
  deleteUser(id: number): void
  findByUsername(username: string): (UserRow & { password: PasswordHash }) | undefined
  findByAccid(accid: string): UserRow | undefined
  /** Display names by accid, for the accids that are demo users. */
  displayNames(accids: string[]): Map<string, string>
  /** Users whose username or display name contains `query`, case-insensitively, by display name. */
  search(query: string, excludeId: number, limit: number): UserRow[]
  createSession(key: string, userId: number, now: number, expiresAt: number): void
  userBySession(key: string, now: number): UserRow | undefined
  deleteSession(key: string): void
  close(): void
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS users (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE COLLATE NOCASE,
  display_name TEXT NOT NULL,
  accid TEXT NOT NULL UNIQUE,
  password_salt BLOB NOT NULL,
  password_hash BLOB NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
  key TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions(expires_at);
`

const USER_COLUMNS = 'u.id, u.username, u.display_name AS displayName, u.accid, u.created_at AS createdAt'

type Row = UserRow & { passwordSalt: Buffer; passwordHash: Buffer }

export function openUserStore(dataDir: string): UserStore {
  mkdirSync(dataDir, { recursive: true })
  const db = new Database(join(dataDir, 'demo.sqlite'))
  db.pragma('journal_mode = WAL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  // SQLite's lower() folds ASCII only; display names are often not ASCII.
  db.function('fold', { deterministic: true }, (text: unknown) => String(text).toLowerCase())
  db.exec(SCHEMA)

  const q = {
    insertUser: db.prepare<[string, string, string, Buffer, Buffer, number]>(
      `INSERT INTO users (username, display_name, accid, password_salt, password_hash, created_at)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO NOTHING`,
    ),
    deleteUser: db.prepare<[number]>('DELETE FROM users WHERE id = ?'),
    byUsername: db.prepare<[string], Row>(
      `SELECT ${USER_COLUMNS}, u.password_salt AS passwordSalt, u.password_hash AS passwordHash
       FROM users u WHERE u.username = ?`,
    ),
    byAccid: db.prepare<[string], UserRow>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.accid = ?`),
    names: db.prepare<[string], { accid: string; displayName: string }>(
      `SELECT accid, display_name AS displayName FROM users WHERE accid IN (SELECT value FROM json_each(?))`,
    ),
    search: db.prepare<[number, string, string], UserRow>(
      `SELECT ${USER_COLUMNS} FROM users u
       WHERE u.id != ? AND (instr(fold(u.username), ?) > 0 OR instr(fold(u.display_name), ?) > 0)
       ORDER BY u.id`,
    ),
    insertSession: db.prepare<[string, number, number, number]>(
      'INSERT INTO sessions (key, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
    ),
    expireSessions: db.prepare<[number]>('DELETE FROM sessions WHERE expires_at <= ?'),
    bySession: db.prepare<[string, number], UserRow>(
      `SELECT ${USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.key = ? AND s.expires_at > ?`,
    ),
    deleteSession: db.prepare<[string]>('DELETE FROM sessions WHERE key = ?'),
  }

  return {
    createUser(user, now) {
      const { salt, hash } = user.password
      const result = q.insertUser.run(user.username, user.displayName, user.accid, salt, hash, now)
      if (result.changes === 0) return undefined
      return { id: Number(result.lastInsertRowid), ...pick(user), createdAt: now }
    },
    deleteUser: (id) => void q.deleteUser.run(id),
    findByUsername(username) {
      const row = q.byUsername.get(username)
      if (!row) return undefined
      const { passwordSalt, passwordHash, ...user } = row
      return { ...user, password: { salt: passwordSalt, hash: passwordHash } }
    },
    findByAccid: (accid) => q.byAccid.get(accid),
    displayNames(accids) {
      const rows = q.names.all(JSON.stringify([...new Set(accids)]))
      return new Map(rows.map((r) => [r.accid, r.displayName]))
    },
    search: (query, excludeId, limit) => {
      const folded = query.toLowerCase()
      // Sorted here, not in SQL: SQLite orders by code point and would put "Ärne" after "Zoe".
      // A substring search scans every row anyway, so sorting the matches costs little more.
      return q.search.all(excludeId, folded, folded).sort(byDisplayName).slice(0, limit)
    },
    createSession(key, userId, now, expiresAt) {
      q.expireSessions.run(now)
      q.insertSession.run(key, userId, now, expiresAt)
    },
    userBySession: (key, now) => q.bySession.get(key, now),
    deleteSession: (key) => void q.deleteSession.run(key),
    close: () => db.close(),
  }
}

const collator = new Intl.Collator('en', { sensitivity: 'base', numeric: true })

function byDisplayName(a: UserRow, b: UserRow): number {
  return collator.compare(a.displayName, b.displayName) || (a.username < b.username ? -1 : 1)
}

function pick(user: NewUser): Pick<UserRow, 'username' | 'displayName' | 'accid'> {
  return { username: user.username, displayName: user.displayName, accid: user.accid }
}

// Saturated mid-tones: white initials stay readable on each.
const AVATAR_COLORS = [
  '#e5484d',
  '#e54666',
  '#d6409f',
  '#8e4ec6',
  '#6e56cf',
  '#3e63dd',
  '#0090ff',
  '#00a2c7',
  '#12a594',
  '#30a46c',
  '#ef5f00',
  '#ad7f58',
]

/** The same username always gets the same color, on every page and device. */
export function avatarColor(username: string): string {
  const digest = createHash('sha256').update(username.toLowerCase()).digest()
  return AVATAR_COLORS[digest.readUInt32BE(0) % AVATAR_COLORS.length] ?? '#3e63dd'
}

export function toDemoUser(user: UserRow): DemoUser {
  return {
    username: user.username,
    displayName: user.displayName,
    accid: user.accid,
    avatarColor: avatarColor(user.username),
  }
}
