import { LitElement, html, type TemplateResult } from 'lit'
import { missedBy, RingKit, type CallType } from '@ringkit/client'
import {
  detectLocale,
  LOCALES,
  type DeviceChoice,
  type InviteCandidate,
  type Locale,
  type RingkitCall,
  type UserInfo,
} from '@ringkit/ui'
import { api, DemoApiError, type DemoHistoryRecord, type DemoUser } from './api.ts'
import { authPage, contactsPage, historyPage, settingsPage, shell, type DemoPage } from './pages.ts'
import { demoStyles } from './styles.ts'
import { reachStyles } from './reach-styles.ts'
import { demoTranslator, isDemoKey, type DemoTranslate } from './strings.ts'

const LOCALE_KEY = 'ringkit-demo.locale'
const DEVICE_KEY = 'ringkit-demo.devices'
const PUSH_KEY = 'ringkit-demo.push'

export interface DemoState {
  checking: boolean
  user: DemoUser | undefined
  page: DemoPage
  authMode: 'signIn' | 'signUp'
  authError: string | undefined
  busy: boolean
  link: 'connecting' | 'online' | 'offline'
  query: string
  contacts: DemoUser[] | undefined
  /** Choosing people for a group call: those ticked so far. */
  picking: DemoUser[] | undefined
  history: DemoHistoryRecord[] | undefined
  historyCursor: string | undefined
  devices: MediaDeviceInfo[]
  selected: Partial<Record<DeviceChoice, string>>
  /** "Ring me when RingKit Demo is closed": on, off, turning on, or why it cannot be. */
  push: PushSetting
  /** Calls missed since History was last looked at: the badge on History. */
  missed: number
}

export type PushSetting = 'off' | 'on' | 'working' | 'blocked' | 'unsupported' | { failed: string }

/** The demo web app: sign up or in, find people, call them, read the history, pick devices and language. */
export class DemoApp extends LitElement {
  static override styles = [demoStyles, reachStyles]

  s: DemoState = {
    checking: true,
    user: undefined,
    page: pageFromHash(),
    authMode: 'signIn',
    authError: undefined,
    busy: false,
    link: 'connecting',
    query: '',
    contacts: undefined,
    picking: undefined,
    history: undefined,
    historyCursor: undefined,
    devices: [],
    selected: readJson(DEVICE_KEY) ?? {},
    push: pushSupported() ? (localStorage.getItem(PUSH_KEY) === 'on' ? 'on' : 'off') : 'unsupported',
    missed: 0,
  }
  locale: Locale = readLocale()
  kit: RingKit | undefined
  #names = new Map<string, Promise<UserInfo>>()
  readonly #colors = new Map<string, string>()
  #searchTimer: ReturnType<typeof setTimeout> | undefined

  get t(): DemoTranslate {
    return demoTranslator(this.locale)
  }

  get callElement(): RingkitCall | null {
    return this.renderRoot.querySelector('ringkit-call')
  }

  override connectedCallback(): void {
    super.connectedCallback()
    addEventListener('hashchange', () => this.go(pageFromHash()))
    api.me().then(
      (user) => this.#signedIn(user),
      () => this.set({ checking: false }),
    )
  }

  set(patch: Partial<DemoState>): void {
    this.s = { ...this.s, ...patch }
    this.requestUpdate()
  }

  override render(): TemplateResult {
    if (this.s.checking) return html`<div class="splash" aria-busy="true"></div>`
    const call = html`<ringkit-call
      .kit=${this.kit}
      .locale=${this.locale}
      .resolveUser=${this.#resolve}
      .inviteCandidates=${this.#inviteCandidates}
    ></ringkit-call>`
    if (!this.s.user) return html`${authPage(this)}${call}`
    const page =
      this.s.page === 'contacts'
        ? contactsPage(this)
        : this.s.page === 'history'
          ? historyPage(this)
          : settingsPage(this)
    return html`${shell(this, page)}${call}`
  }

  // ---- actions the pages call ----

  go(page: DemoPage): void {
    if (location.hash !== `#/${page}`) history.replaceState(null, '', `#/${page}`)
    this.set({ page })
    // History rows borrow avatar colors from the people list.
    if (page === 'history') {
      this.set({ missed: 0 })
      void this.loadHistory()
      if (!this.s.contacts) this.search('')
    }
    if (page === 'contacts') void this.search(this.s.query)
    if (page === 'settings') void this.loadDevices()
  }

  async submitAuth(form: HTMLFormElement): Promise<void> {
    const data = new FormData(form)
    const field = (name: string) => String(data.get(name) ?? '')
    this.set({ busy: true, authError: undefined })
    try {
      const user =
        this.s.authMode === 'signUp'
          ? await api.signUp({
              username: field('username'),
              displayName: field('displayName'),
              password: field('password'),
            })
          : await api.logIn({ username: field('username'), password: field('password') })
      await this.#signedIn(user)
    } catch (error) {
      this.set({ authError: this.errorText(error) })
    } finally {
      this.set({ busy: false })
    }
  }

  async signOut(): Promise<void> {
    await this.kit?.logout().catch(() => {})
    this.kit = undefined
    await api.logOut().catch(() => {})
    this.set({ user: undefined, contacts: undefined, history: undefined, authMode: 'signIn', link: 'connecting' })
  }

  setLocale(locale: Locale): void {
    this.locale = locale
    localStorage.setItem(LOCALE_KEY, locale)
    document.documentElement.lang = locale
    this.requestUpdate()
  }

  search(query: string): void {
    this.set({ query })
    clearTimeout(this.#searchTimer)
    this.#searchTimer = setTimeout(() => {
      api.search(query).then(
        (contacts) => this.s.query === query && this.set({ contacts }),
        (error: unknown) => this.#failed(error),
      )
    }, 150)
  }

  async placeCall(user: DemoUser, type: CallType): Promise<void> {
    // The call element shows what went wrong (offline, busy, no camera…) by itself.
    await this.callElement?.call({ to: user.accid, type }).catch(() => {})
  }

  /** Group calls: tick people on the contacts page (`picking`), then call them all at once. */
  setPicking(picking: boolean): void {
    this.set({ picking: picking ? [] : undefined })
  }

  togglePicked(user: DemoUser): void {
    const picking = this.s.picking ?? []
    const ticked = picking.some((u) => u.accid === user.accid)
    this.set({ picking: ticked ? picking.filter((u) => u.accid !== user.accid) : [...picking, user] })
  }

  async placeGroupCall(accids: string[], type: CallType): Promise<void> {
    this.set({ picking: undefined })
    await this.callElement?.groupCall({ to: accids, type }).catch(() => {})
  }

  async loadHistory(more = false): Promise<void> {
    try {
      const page = await api.history(more ? this.s.historyCursor : undefined)
      const history = more ? [...(this.s.history ?? []), ...page.records] : page.records
      this.set({ history, historyCursor: page.nextCursor })
    } catch (error) {
      this.#failed(error)
    }
  }

  async loadDevices(askPermission = false): Promise<void> {
    if (askPermission) {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: true }).catch(() => undefined)
      stream?.getTracks().forEach((track) => track.stop())
    }
    const devices = (await this.kit?.listDevices().catch(() => [])) ?? []
    this.set({ devices })
  }

  /** Turns "Ring me when RingKit Demo is closed" on or off: the service worker, permission and subscription. */
  async setPush(on: boolean): Promise<void> {
    const kit = this.kit
    if (!kit || !pushSupported()) return
    if (!on) {
      this.set({ push: 'off' })
      localStorage.removeItem(PUSH_KEY)
      const registration = await navigator.serviceWorker.getRegistration('/')
      await kit.disablePush(registration ? { serviceWorker: registration } : {}).catch(() => {})
      return
    }
    this.set({ push: 'working' })
    const permission = await Notification.requestPermission()
    if (permission !== 'granted') {
      localStorage.removeItem(PUSH_KEY)
      return this.set({ push: permission === 'denied' ? 'blocked' : 'off' })
    }
    try {
      const registration = await navigator.serviceWorker.register('/sw.js')
      await navigator.serviceWorker.ready
      await kit.enablePush({ serviceWorker: registration, lang: this.locale })
      localStorage.setItem(PUSH_KEY, 'on')
      this.set({ push: 'on' })
    } catch (error) {
      localStorage.removeItem(PUSH_KEY)
      this.set({ push: { failed: error instanceof Error ? error.message : String(error) } })
    }
  }

  async selectDevice(kind: DeviceChoice, deviceId: string): Promise<void> {
    const selected = { ...this.s.selected, [kind]: deviceId }
    this.set({ selected })
    localStorage.setItem(DEVICE_KEY, JSON.stringify(selected))
    await this.#applyDevice(kind, deviceId)
  }

  /** A person's avatar color: from the contacts list, or asked of the backend once (the page redraws then). */
  colorOf(accid: string): string | undefined {
    const known = this.s.contacts?.find((c) => c.accid === accid)?.avatarColor ?? this.#colors.get(accid)
    if (known) return known
    void this.#resolve(accid).then((info) => {
      if (!info.color) return
      this.#colors.set(accid, info.color)
      this.requestUpdate()
    })
    return undefined
  }

  errorText(error: unknown): string {
    const code = error instanceof DemoApiError ? error.code : 'UNKNOWN'
    if (code === 'INVALID_PARAMS' && error instanceof Error) return this.t('INVALID_PARAMS', { detail: error.message })
    return isDemoKey(code) ? this.t(code) : this.t('UNKNOWN', { code })
  }

  // ---- internals ----

  async #signedIn(user: DemoUser): Promise<void> {
    this.set({ user, checking: false, link: 'connecting' })
    this.go(this.s.page)
    const first = await api.ringkitToken()
    let firstToken: string | undefined = first.token
    const kit = new RingKit({ server: first.server, appKey: first.appKey })
    this.kit = kit
    kit.on('disconnect', () => this.set({ link: 'offline' }))
    kit.on('reconnected', () => this.set({ link: 'online' }))
    kit.on('kickedOffline', () => this.set({ link: 'offline' }))
    kit.on('tokenExpired', () => this.set({ link: 'offline' }))
    kit.on('record', (record) => {
      if (this.s.page === 'history') void this.loadHistory()
      else if (missedBy(record, user.accid)) this.set({ missed: this.s.missed + 1 })
    })
    kit.on('missedCall', () => this.s.page !== 'history' && this.set({ missed: this.s.missed + 1 }))
    // Renewed tokens come from the demo backend, which asks RingKit's REST API with its secret.
    const tokenProvider = async () => {
      const token = firstToken ?? (await api.ringkitToken()).token
      firstToken = undefined
      return token
    }
    try {
      await kit.login({ accid: user.accid, tokenProvider })
      this.set({ link: 'online' })
      // The subscription is the device's: a new login keeps it on the server for this device.
      if (this.s.push === 'on') void this.setPush(true)
      for (const [kind, id] of Object.entries(this.s.selected))
        if (id) await this.#applyDevice(kind as DeviceChoice, id)
    } catch (error) {
      this.set({ link: 'offline' })
      this.#failed(error)
    }
  }

  async #applyDevice(kind: DeviceChoice, deviceId: string): Promise<void> {
    if (kind === 'speaker') return this.callElement?.setSpeaker(deviceId)
    await this.kit?.selectDevice(kind, deviceId).catch(() => {})
  }

  readonly #resolve = (accid: string): Promise<UserInfo> => {
    let found = this.#names.get(accid)
    if (!found) {
      found = api.userByAccid(accid).then(
        (u) => ({ name: u.displayName, color: u.avatarColor }),
        () => ({ name: accid }),
      )
      this.#names.set(accid, found)
    }
    return found
  }

  /** Whom a group call's Invite sheet offers: everyone on the contacts page. */
  readonly #inviteCandidates = async (): Promise<InviteCandidate[]> => {
    const users = await api.search('')
    return users.map((u) => ({ accid: u.accid, name: u.displayName, color: u.avatarColor }))
  }

  #failed(error: unknown): void {
    if (error instanceof DemoApiError && error.code === 'NOT_SIGNED_IN') {
      this.set({ user: undefined })
      return
    }
    console.warn('RingKit demo:', error)
  }
}

/** Service workers, push and notifications: what ringing a closed page needs. */
function pushSupported(): boolean {
  return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window
}

function pageFromHash(): DemoPage {
  const page = location.hash.replace(/^#\//, '')
  return page === 'history' || page === 'settings' ? page : 'contacts'
}

function readLocale(): Locale {
  const saved = localStorage.getItem(LOCALE_KEY)
  return LOCALES.find((l) => l === saved) ?? detectLocale()
}

function readJson<T>(key: string): T | undefined {
  try {
    return JSON.parse(localStorage.getItem(key) ?? 'null') ?? undefined
  } catch {
    return undefined
  }
}
