import { MIGRATIONS, type Migration } from './migrations/index.ts'
import { quoteSchema, type Db } from './pg-pool.ts'

/**
 * Creates the schema and applies the migrations it lacks, in one transaction under an advisory
 * lock on the schema's name: nodes starting together take turns, and the first one migrates. A
 * step that fails leaves the schema as it was. Returns the versions applied by this call.
 */
export async function migrate(
  db: Db,
  schema: string,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  const s = quoteSchema(schema)
  return db.transaction(async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`ringkit.migrate:${schema}`])
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`)
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (
         version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    )
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${s}.schema_migrations`)
    const done = new Set(rows.map((r) => r.version))
    const known = Math.max(0, ...migrations.map((m) => m.version))
    const newest = Math.max(0, ...done)
    if (newest > known) {
      throw new Error(
        `the PostgreSQL schema "${schema}" is at version ${newest}, newer than this RingKit knows (${known}): upgrade RingKit`,
      )
    }
    const applied: number[] = []
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue
      await client.query(m.up(s))
      await client.query(`INSERT INTO ${s}.schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name])
      applied.push(m.version)
    }
    return applied
  })
}
