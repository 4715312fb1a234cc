import { randomInt } from 'node:crypto'

/**
 * The seeds a randomized test runs with: its fixed one, so every run tries the cases CI has always
 * passed, and a fresh one, so each run also tries new ones. Test titles carry the seed and the line
 * that replays it; `RINGKIT_PROPERTY_SEED` runs that seed alone.
 */
export function seedsBeside(fixed: number): { seed: number; title: string }[] {
  const replay = process.env.RINGKIT_PROPERTY_SEED
  const seeds = replay === undefined ? [fixed, randomInt(2 ** 31)] : [Number(replay)]
  return seeds.map((seed) => ({
    seed,
    title: `${replay !== undefined ? 'replayed' : seed === fixed ? 'fixed' : 'fresh'} seed ${seed}, replay with RINGKIT_PROPERTY_SEED=${seed}`,
  }))
}
