import { Worker } from 'node:worker_threads'
import type { FromCheckpointer, ToCheckpointer } from './checkpointer.ts'

export interface Checkpoints {
  /** Stops checkpointing the file; the thread's connection to it is closed when this resolves. */
  detach(): Promise<void>
}

/** What the store does for its checkpointer. */
export interface CheckpointedStore {
  /** Holds statements back (queues them) until `release`: the log is about to start over. */
  hold(): void
  release(): void
  /** Checkpoints are no longer run for this file (the thread failed or died), and why. */
  fallBack(reason: string): void
}

/** The longest a store holds its statements back for the checkpointer, whatever happens to it. */
const MAX_HOLD_MS = 250

/**
 * Checkpoints a WAL database on a thread of its own (see checkpointer.ts). One thread serves every
 * store of the process. When it stops, `fallBack` is told: the store's own connection must then
 * checkpoint again, or its log grows without end.
 */
export function checkpointInBackground(file: string, store: CheckpointedStore): Checkpoints {
  thread ??= new CheckpointerThread()
  return thread.watch(file, store)
}

let thread: CheckpointerThread | undefined
let ids = 0

class CheckpointerThread {
  #worker: Worker | undefined
  #dead: string | undefined
  readonly #watched = new Map<number, CheckpointedStore>()
  readonly #waiting = new Map<number, (error?: string) => void>()
  readonly #holds = new Map<number, NodeJS.Timeout>()

  watch(file: string, store: CheckpointedStore): Checkpoints {
    const id = ++ids
    this.#watched.set(id, store)
    void this.#request({ type: 'watch', id, file }).then((error) => {
      if (error !== undefined) this.#fail(id, error)
    })
    return {
      detach: async () => {
        this.#release(id)
        if (!this.#watched.delete(id)) return
        await this.#request({ type: 'unwatch', id })
      },
    }
  }

  #request(message: ToCheckpointer): Promise<string | undefined> {
    if (this.#dead !== undefined) return Promise.resolve(this.#dead)
    const worker = (this.#worker ??= this.#spawn())
    // The thread keeps the process alive only while it owes a reply.
    if (this.#waiting.size === 0) worker.ref()
    return new Promise((resolve) => {
      this.#waiting.set(message.id, resolve)
      worker.postMessage(message)
    })
  }

  #hold(worker: Worker, id: number): void {
    const store = this.#watched.get(id)
    if (!store || this.#holds.has(id)) return
    store.hold()
    this.#holds.set(id, setTimeout(() => this.#release(id), MAX_HOLD_MS).unref())
    worker.postMessage({ type: 'held', id } satisfies ToCheckpointer)
  }

  #release(id: number): void {
    const timer = this.#holds.get(id)
    if (timer === undefined) return
    clearTimeout(timer)
    this.#holds.delete(id)
    this.#watched.get(id)?.release()
  }

  #fail(id: number, reason: string): void {
    this.#release(id)
    const store = this.#watched.get(id)
    this.#watched.delete(id)
    store?.fallBack(reason)
  }

  #spawn(): Worker {
    const worker = spawnCheckpointer()
    worker.unref()
    worker.on('message', (m: FromCheckpointer) => {
      if (m.kind === 'hold') return this.#hold(worker, m.id)
      if (m.kind === 'release') return this.#release(m.id)
      if (m.kind === 'failed') return this.#fail(m.id, m.error)
      const resolve = this.#waiting.get(m.id)
      this.#waiting.delete(m.id)
      if (this.#waiting.size === 0) worker.unref()
      resolve?.(m.error)
    })
    const die = (reason: string) => {
      if (this.#dead !== undefined) return
      this.#dead = reason
      for (const resolve of this.#waiting.values()) resolve(reason)
      this.#waiting.clear()
      for (const id of [...this.#watched.keys()]) this.#fail(id, reason)
    }
    worker.on('error', (error) => die(String(error)))
    worker.on('exit', (code) => die(`the checkpointer thread exited (${code})`))
    return worker
  }
}

/**
 * Starts checkpointer.ts as a thread. From TypeScript source the thread needs the TypeScript loader
 * too: Node does not carry a loader registered in this thread over to new ones.
 */
function spawnCheckpointer(): Worker {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js'
  const entry = new URL(`./checkpointer${ext}`, import.meta.url)
  if (ext === '.js') return new Worker(entry)
  const tsx = JSON.stringify(import.meta.resolve('tsx/esm/api'))
  return new Worker(`import(${tsx}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry.href)}) })`, {
    eval: true,
  })
}
