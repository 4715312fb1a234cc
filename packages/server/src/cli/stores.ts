/** Where `ringkit serve` keeps its data, from its options and environment. */
export interface StoreChoice {
  postgres?: { url: string; schema: string | undefined }
}

/**
 * PostgreSQL and Redis go together: nodes on one database must also share their live state
 * (calls, presence, busy claims), or each would take the others' calls for its own. Without
 * either, one node keeps everything in SQLite, the default.
 */
export function chooseStore(o: {
  postgres?: string | undefined
  redis?: string | undefined
  schema?: string | undefined
}): StoreChoice {
  if (o.postgres && !o.redis) {
    throw new Error(
      '--postgres runs RingKit as a cluster and needs --redis too (RINGKIT_REDIS_URL): nodes on one database share their live calls through Redis. For one node, leave both out: SQLite in --data-dir is the default',
    )
  }
  if (o.redis && !o.postgres) {
    throw new Error('--redis needs --postgres too (RINGKIT_POSTGRES_URL): the nodes of a cluster share one database')
  }
  if (!o.postgres && o.schema) throw new Error('--schema names the PostgreSQL schema: it goes with --postgres')
  return o.postgres ? { postgres: { url: o.postgres, schema: o.schema } } : {}
}
