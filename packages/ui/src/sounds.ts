/**
 * Ringtone (a call rings me) and ringback (my call rings the other side). Generated with Web Audio
 * so the kit ships no sound files; either can be replaced by a URL. Browsers block sound until the
 * user has touched the page: `onBlocked` tells the UI to offer a tap that unlocks it.
 */
export type ToneKind = 'ringtone' | 'ringback'

export type ToneUrls = Partial<Record<ToneKind, string | undefined>>

export interface ToneOptions {
  onBlocked: (blocked: boolean) => void
}

// Ringtone: a bright two-note phrase twice, then a pause. Ringback: the 425 Hz on/off of a line ringing.
const PATTERNS: Record<ToneKind, { seconds: number; notes: [start: number, length: number, hz: number[]][] }> = {
  ringtone: {
    seconds: 3,
    notes: [
      [0, 0.18, [1046]],
      [0.2, 0.18, [784]],
      [0.45, 0.18, [1046]],
      [0.65, 0.18, [784]],
    ],
  },
  ringback: { seconds: 5, notes: [[0, 1, [425]]] },
}

type AudioContextClass = new () => AudioContext

export class Tones {
  readonly #options: ToneOptions
  #urls: ToneUrls = {}
  #context: AudioContext | undefined
  #source: AudioBufferSourceNode | undefined
  #element: HTMLAudioElement | undefined
  #playing: ToneKind | undefined

  constructor(options: ToneOptions) {
    this.#options = options
  }

  get playing(): ToneKind | undefined {
    return this.#playing
  }

  /** Sounds to play instead of the generated ones. */
  setUrls(urls: ToneUrls): void {
    this.#urls = urls
  }

  play(kind: ToneKind): void {
    if (this.#playing === kind) return
    this.stop()
    this.#playing = kind
    const url = this.#urls[kind]
    if (url) this.#playUrl(url)
    else this.#playGenerated(kind)
  }

  stop(): void {
    this.#playing = undefined
    this.#source?.stop()
    this.#source = undefined
    this.#element?.pause()
    this.#element = undefined
    this.#options.onBlocked(false)
  }

  /** Call from a user gesture: browsers then allow sound. */
  unlock(): void {
    void this.#context?.resume()
    void this.#element?.play().then(() => this.#options.onBlocked(false))
  }

  #playUrl(url: string): void {
    const element = new Audio(url)
    element.loop = true
    this.#element = element
    element.play().catch(() => {
      if (this.#element === element) this.#options.onBlocked(true)
    })
  }

  #playGenerated(kind: ToneKind): void {
    const Context = (globalThis as { AudioContext?: AudioContextClass }).AudioContext
    if (!Context) return
    const context = (this.#context ??= new Context())
    const source = context.createBufferSource()
    source.buffer = render(context, kind)
    source.loop = true
    const gain = context.createGain()
    gain.gain.value = 0.25
    source.connect(gain).connect(context.destination)
    source.start()
    this.#source = source
    if (context.state === 'running') return
    context.onstatechange = () => {
      if (context.state === 'running') this.#options.onBlocked(false)
    }
    void context.resume()
    // A context that stays suspended means the page has not been touched yet.
    setTimeout(() => {
      if (this.#source === source && context.state !== 'running') this.#options.onBlocked(true)
    }, 300)
  }
}

function render(context: AudioContext, kind: ToneKind): AudioBuffer {
  const { seconds, notes } = PATTERNS[kind]
  const rate = context.sampleRate
  const buffer = context.createBuffer(1, Math.round(seconds * rate), rate)
  const data = buffer.getChannelData(0)
  for (const [start, length, frequencies] of notes) {
    const from = Math.round(start * rate)
    const count = Math.round(length * rate)
    for (let i = 0; i < count; i++) {
      const t = i / rate
      // Short fades at both ends keep the notes from clicking.
      const envelope = Math.min(1, t / 0.01, (length - t) / 0.02)
      let sample = 0
      for (const hz of frequencies) sample += Math.sin(2 * Math.PI * hz * t)
      data[from + i] = (sample / frequencies.length) * envelope
    }
  }
  return buffer
}
