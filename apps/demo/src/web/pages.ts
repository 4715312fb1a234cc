import { html, nothing, svg, type TemplateResult } from 'lit'
import { describeRecord, deviceSelects, icons, translator, type Locale } from '@ringkit/ui'
import type { DemoHistoryRecord, DemoUser } from './api.ts'
import type { DemoApp } from './DemoApp.ts'
import type { DemoKey } from './strings.ts'

export type DemoPage = 'contacts' | 'history' | 'settings'

const navIcon = (d: ReturnType<typeof svg>) =>
  html`<svg
    viewBox="0 0 24 24"
    width="22"
    height="22"
    fill="none"
    stroke="currentColor"
    stroke-width="1.8"
    stroke-linecap="round"
    stroke-linejoin="round"
    aria-hidden="true"
  >
    ${d}
  </svg>`
const NAV: [DemoPage, DemoKey, TemplateResult][] = [
  [
    'contacts',
    'contacts',
    navIcon(
      svg`<circle cx="9" cy="8" r="3.5"/><path d="M2.5 20a6.5 6.5 0 0 1 13 0M16 4.5a3.5 3.5 0 0 1 0 7M18 14a6.5 6.5 0 0 1 3.5 6"/>`,
    ),
  ],
  ['history', 'history', navIcon(svg`<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3.5 2"/>`)],
  [
    'settings',
    'settings',
    navIcon(
      svg`<path d="M4 6h10M18 6h2M4 12h4M12 12h8M4 18h12M20 18h0"/><circle cx="16" cy="6" r="2"/><circle cx="10" cy="12" r="2"/><circle cx="18" cy="18" r="2"/>`,
    ),
  ],
]

/** The avatar color of someone the demo does not know. */
const GRAY = '#64748b'
const LOGO = html`<span class="logo" aria-hidden="true">${icons.phone}</span>`

export function avatar(name: string, color: string, size = 44): TemplateResult {
  const letters = [...name.trim()][0]?.toUpperCase() ?? '?'
  return html`<span
    class="avatar"
    style="background:${color};width:${size}px;height:${size}px;font-size:${size * 0.42}px"
    >${letters}</span
  >`
}

function languagePicker(app: DemoApp): TemplateResult {
  return html`<select
    class="lang"
    aria-label=${app.t('language')}
    @change=${(e: Event) => app.setLocale((e.target as HTMLSelectElement).value as Locale)}
  >
    <option value="en" ?selected=${app.locale === 'en'}>English</option>
    <option value="zh-CN" ?selected=${app.locale === 'zh-CN'}>简体中文</option>
  </select>`
}

export function authPage(app: DemoApp): TemplateResult {
  const { t } = app
  const signUp = app.s.authMode === 'signUp'
  return html`<div class="auth">
    <div class="auth-top">${languagePicker(app)}</div>
    <form
      class="card auth-card"
      @submit=${(e: SubmitEvent) => {
        e.preventDefault()
        void app.submitAuth(e.target as HTMLFormElement)
      }}
    >
      <div class="brand big">${LOGO}<span>${t('brand')}</span></div>
      <p class="tagline">${t('tagline')}</p>
      <h1>${t(signUp ? 'signUpTitle' : 'signInTitle')}</h1>
      <label
        >${t('username')}<input name="username" autocomplete="username" required minlength="3" maxlength="32"
      /></label>
      ${
        signUp
          ? html`<label
              >${t('displayName')}<input name="displayName" autocomplete="nickname" required maxlength="40"
            /></label>`
          : nothing
      }
      <label
        >${t('password')}<input
          name="password"
          type="password"
          autocomplete=${signUp ? 'new-password' : 'current-password'}
          required
          minlength=${signUp ? 8 : 1}
          maxlength="128"
          placeholder=${signUp ? t('passwordHint') : ''}
      /></label>
      ${app.s.authError ? html`<p class="error" role="alert">${app.s.authError}</p>` : nothing}
      <button class="primary" type="submit" ?disabled=${app.s.busy}>${t(signUp ? 'signUp' : 'signIn')}</button>
      <p class="switch">
        ${t(signUp ? 'haveAccount' : 'noAccount')}
        <button
          type="button"
          class="link"
          @click=${() => app.set({ authMode: signUp ? 'signIn' : 'signUp', authError: undefined })}
        >
          ${t(signUp ? 'signIn' : 'signUp')}
        </button>
      </p>
    </form>
  </div>`
}

export function shell(app: DemoApp, content: TemplateResult): TemplateResult {
  const { t } = app
  const user = app.s.user
  if (!user) return content
  const nav = NAV.map(
    ([page, key, icon]) =>
      html`<a
        href="#/${page}"
        class="nav-item ${app.s.page === page ? 'active' : ''}"
        aria-current=${app.s.page === page ? 'page' : 'false'}
        >${icon}<span>${t(key)}</span>${
          page === 'history' && app.s.missed > 0
            ? html`<span class="badge" aria-label=${t('missedCalls', { count: String(app.s.missed) })}
                >${app.s.missed > 99 ? '99+' : app.s.missed}</span
              >`
            : nothing
        }</a
      >`,
  )
  const status = html`<span class="status-dot ${app.s.link}" title=${t(app.s.link)}></span>`
  return html`<div class="app">
    <aside class="sidebar">
      <div class="brand">${LOGO}<span>${t('brand')}</span></div>
      <nav>${nav}</nav>
      <div class="me">
        ${avatar(user.displayName, user.avatarColor, 36)}
        <div class="me-text"><strong>${user.displayName}</strong><small>${status}${t(app.s.link)}</small></div>
      </div>
    </aside>
    <header class="topbar">
      <div class="brand">${LOGO}<span>${t(app.s.page)}</span></div>
      ${status}
    </header>
    <main class="content">
      <h1 class="page-title">${t(app.s.page)}</h1>
      ${content}
    </main>
    <nav class="tabbar">${nav}</nav>
  </div>`
}

function person(user: DemoUser, app: DemoApp): TemplateResult {
  const { t } = app
  if (app.s.picking) return pickable(user, app, app.s.picking)
  return html`<li class="row">
    ${avatar(user.displayName, user.avatarColor)}
    <div class="row-text"><strong>${user.displayName}</strong><small>@${user.username}</small></div>
    <button
      class="round"
      aria-label=${t('audioCallTo', { name: user.displayName })}
      @click=${() => void app.placeCall(user, 'audio')}
    >
      ${icons.phone}
    </button>
    <button
      class="round"
      aria-label=${t('videoCallTo', { name: user.displayName })}
      @click=${() => void app.placeCall(user, 'video')}
    >
      ${icons.video}
    </button>
  </li>`
}

/** A contact while choosing people for a group call: the whole row ticks it. */
function pickable(user: DemoUser, app: DemoApp, picking: DemoUser[]): TemplateResult {
  const ticked = picking.some((u) => u.accid === user.accid)
  return html`<li class="row pickable ${ticked ? 'ticked' : ''}">
    <label>
      <input type="checkbox" .checked=${ticked} @change=${() => app.togglePicked(user)} />
      ${avatar(user.displayName, user.avatarColor)}
      <span class="row-text"><strong>${user.displayName}</strong><small>@${user.username}</small></span>
      <span class="check" aria-hidden="true">${icons.check}</span>
    </label>
  </li>`
}

/** The bar under the list while choosing: who is ticked, and the two ways to call them. */
function pickBar(app: DemoApp, picking: DemoUser[]): TemplateResult {
  const { t } = app
  const accids = picking.map((u) => u.accid)
  const none = picking.length === 0
  return html`<div class="pick-bar card" role="region" aria-label=${t('groupCall')}>
    <div class="picked">
      <span class="faces">${picking.slice(0, 4).map((u) => avatar(u.displayName, u.avatarColor, 30))}</span>
      <span>
        <strong>${none ? t('pickHint') : t('picked', { count: String(picking.length) })}</strong>
        <small>${picking.map((u) => u.displayName).join(', ')}</small>
      </span>
    </div>
    <div class="pick-actions">
      <button class="secondary" @click=${() => app.setPicking(false)}>${t('cancel')}</button>
      <button class="primary with-icon" ?disabled=${none} @click=${() => void app.placeGroupCall(accids, 'audio')}>
        ${icons.phone}${t('audio')}
      </button>
      <button class="primary with-icon" ?disabled=${none} @click=${() => void app.placeGroupCall(accids, 'video')}>
        ${icons.video}${t('video')}
      </button>
    </div>
  </div>`
}

export function contactsPage(app: DemoApp): TemplateResult {
  const { t } = app
  const { contacts, query, picking } = app.s
  return html`<div class="toolbar">
      <div class="search">
        <input
          type="search"
          placeholder=${t('search')}
          aria-label=${t('search')}
          .value=${query}
          @input=${(e: Event) => app.search((e.target as HTMLInputElement).value)}
        />
      </div>
      ${
        picking || !contacts?.length
          ? nothing
          : html`<button
              class="secondary with-icon group-call"
              aria-label=${t('groupCall')}
              @click=${() => app.setPicking(true)}
            >
              ${icons.people}<span>${t('groupCall')}</span>
            </button>`
      }
    </div>
    ${
      contacts === undefined
        ? html`<div class="card list loading"></div>`
        : contacts.length === 0
          ? html`<p class="empty">${query ? t('noMatches', { q: query }) : t('noContacts')}</p>`
          : html`<ul class="card list" aria-label=${t('contacts')}>
              ${contacts.map((user) => person(user, app))}
            </ul>`
    }
    ${picking ? pickBar(app, picking) : nothing}`
}

function when(at: number, app: DemoApp): string {
  const date = new Date(at)
  const day = (d: Date) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime()
  const days = Math.round((day(new Date()) - day(date)) / 86_400_000)
  const time = date.toLocaleTimeString(app.locale, { hour: '2-digit', minute: '2-digit' })
  if (days === 0) return time
  if (days === 1) return `${app.t('yesterday')} ${time}`
  return date.toLocaleDateString(app.locale, { month: 'short', day: 'numeric' })
}

/** A group call's row: everyone else in it, one avatar each (a few), and calling them all back. */
function groupHistoryRow(record: DemoHistoryRecord, app: DemoApp): TemplateResult {
  const me = app.s.user?.accid ?? ''
  const wording = describeRecord(record, me, translator(app.locale))
  const people = [
    { accid: record.caller, name: record.callerName },
    ...record.callees.map((accid, i) => ({ accid, name: record.calleeNames[i] ?? accid })),
  ].filter((p) => p.accid !== me)
  const direction = wording.missed ? 'missed' : wording.outgoing ? 'outgoing' : 'incoming'
  const names = people.map((p) => p.name).join(', ')
  const accids = people.map((p) => p.accid)
  const type = record.type
  return html`<li class="row group ${wording.missed ? 'missed' : ''}" data-call-id=${record.callId}>
    <span class="faces stacked"
      >${people.slice(0, 2).map((p) => avatar(p.name, app.colorOf(p.accid) ?? GRAY, 28))}</span
    >
    <div class="row-text">
      <strong title=${names}>${names}</strong>
      <small
        ><span class="dir ${direction}" title=${app.t(direction)}>${direction === 'outgoing' ? '↗' : '↙'}</span>
        <span class="kind" title=${app.t('groupCall')}>${icons.people}</span
        ><span class="wording">${wording.text}</span></small
      >
    </div>
    <time datetime=${new Date(record.startedAt).toISOString()}>${when(record.startedAt, app)}</time>
    <button
      class="round"
      aria-label=${app.t(type === 'video' ? 'groupVideoCallTo' : 'groupAudioCallTo', { names })}
      @click=${() => void app.placeGroupCall(accids, type)}
    >
      ${type === 'video' ? icons.video : icons.phone}
    </button>
  </li>`
}

function historyRow(record: DemoHistoryRecord, app: DemoApp): TemplateResult {
  if (record.isGroup) return groupHistoryRow(record, app)
  const me = app.s.user?.accid ?? ''
  const wording = describeRecord(record, me, translator(app.locale))
  const outgoing = record.caller === me
  const otherAccid = outgoing ? (record.callees[0] ?? '') : record.caller
  const otherName = outgoing ? (record.calleeNames[0] ?? otherAccid) : record.callerName
  const other = app.s.contacts?.find((c) => c.accid === otherAccid)
  const color = app.colorOf(otherAccid) ?? GRAY
  const direction = wording.missed ? 'missed' : outgoing ? 'outgoing' : 'incoming'
  return html`<li class="row ${wording.missed ? 'missed' : ''}" data-call-id=${record.callId}>
    ${avatar(otherName, color)}
    <div class="row-text">
      <strong>${otherName}</strong>
      <small
        ><span class="dir ${direction}" title=${app.t(direction)}>${direction === 'outgoing' ? '↗' : '↙'}</span>
        ${record.type === 'video' ? icons.video : icons.phone}<span class="wording">${wording.text}</span></small
      >
    </div>
    <time datetime=${new Date(record.startedAt).toISOString()}>${when(record.startedAt, app)}</time>
    ${
      other
        ? html`<button
            class="round"
            aria-label=${app.t(record.type === 'video' ? 'videoCallTo' : 'audioCallTo', { name: otherName })}
            @click=${() => void app.placeCall(other, record.type)}
          >
            ${record.type === 'video' ? icons.video : icons.phone}
          </button>`
        : nothing
    }
  </li>`
}

export function historyPage(app: DemoApp): TemplateResult {
  const { history, historyCursor } = app.s
  if (history === undefined) return html`<div class="card list loading"></div>`
  if (history.length === 0) return html`<p class="empty">${app.t('noHistory')}</p>`
  return html`<ul class="card list history" aria-label=${app.t('history')}>
      ${history.map((record) => historyRow(record, app))}
    </ul>
    ${historyCursor ? html`<button class="secondary more" @click=${() => void app.loadHistory(true)}>${app.t('loadMore')}</button>` : nothing}`
}

/** "Ring me when RingKit Demo is closed": a switch, and why it is off when the browser says no. */
function pushSetting(app: DemoApp): TemplateResult {
  const { t } = app
  const { push } = app.s
  const unavailable = push === 'unsupported'
  const note =
    push === 'blocked'
      ? html`<p class="note warn" role="alert">${t('ringClosedBlocked')}</p>`
      : push === 'unsupported'
        ? html`<p class="note warn">${t('ringClosedUnsupported')}</p>`
        : typeof push === 'object'
          ? html`<p class="note warn" role="alert">${t('ringClosedFailed', { detail: push.failed })}</p>`
          : html`<p class="note">${t('ringClosedHint')}</p>`
  return html`<section class="card settings">
    <label class="switch-row">
      <span>${t('ringClosed')}</span>
      <input
        type="checkbox"
        role="switch"
        class="switch"
        .checked=${push === 'on' || push === 'working'}
        ?disabled=${unavailable || push === 'working'}
        @change=${(e: Event) => void app.setPush((e.target as HTMLInputElement).checked)}
      />
    </label>
    ${note}
  </section>`
}

export function settingsPage(app: DemoApp): TemplateResult {
  const { t } = app
  const { devices, selected, user } = app.s
  const named = devices.some((d) => d.label)
  return html`<section class="card settings">
      <h2>${t('language')}</h2>
      ${languagePicker(app)}
    </section>
    <section class="card settings">
      <h2>${t('devices')}</h2>
      ${deviceSelects(devices, selected, translator(app.locale), (kind, id) => void app.selectDevice(kind, id))}
      ${named ? nothing : html`<button class="secondary" @click=${() => void app.loadDevices(true)}>${t('showDeviceNames')}</button>`}
    </section>
    ${pushSetting(app)}
    <section class="card settings">
      <h2>${t('account')}</h2>
      ${
        user
          ? html`<div class="row plain">
              ${avatar(user.displayName, user.avatarColor)}
              <div class="row-text"><strong>${user.displayName}</strong><small>@${user.username}</small></div>
            </div>`
          : nothing
      }
      <button class="secondary danger" @click=${() => void app.signOut()}>${t('signOut')}</button>
    </section>`
}
