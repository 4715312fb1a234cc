import { resolve } from 'node:path'
import { DEFAULT_PG_SCHEMA } from '../store/pg-pool.ts'
import { copySqliteToPostgres, type CopyCount } from '../store/sqlite-to-postgres.ts'

/** `ringkit migrate --from-sqlite DATA_DIR --postgres URL [--schema NAME]`: prints what it copied. */
export async function migrateFromSqlite(o: {
  fromSqlite: string | undefined
  postgres: string | undefined
  schema: string | undefined
}): Promise<string> {
  if (!o.fromSqlite || !o.postgres) {
    throw new Error('usage: ringkit migrate --from-sqlite DATA_DIR --postgres URL [--schema NAME]')
  }
  const dataDir = resolve(o.fromSqlite)
  const schema = o.schema ?? DEFAULT_PG_SCHEMA
  const copy = await copySqliteToPostgres(dataDir, { url: o.postgres, schema })
  const line = (what: string, c: CopyCount) =>
    `  ${what.padEnd(9)} ${String(c.copied).padStart(7)} copied, ${c.present} already there`
  const lines = [
    ...(copy.interrupted > 0
      ? [`Ended ${copy.interrupted} call(s) cut by the SQLite server's shutdown, as its next start would have.`]
      : []),
    `Copied ${dataDir} into PostgreSQL schema "${schema}":`,
    line('apps', copy.apps),
    line('settings', copy.settings),
    line('accounts', copy.accounts),
    line('records', copy.records),
    line('webhook endpoints', copy.webhooks),
    line('push subscriptions', copy.pushSubscriptions),
  ]
  if (copy.differing.length > 0) {
    lines.push(
      `Kept PostgreSQL's own value of these settings, which differ from SQLite's: ${copy.differing.join(', ')}`,
    )
  }
  return lines.join('\n') + '\n'
}
