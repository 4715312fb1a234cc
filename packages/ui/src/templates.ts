import { html, nothing, type TemplateResult } from 'lit'
import { ref } from 'lit/directives/ref.js'
import { makeDraggable } from './drag.ts'
import { formatDuration, type Translate } from './i18n.ts'
import { icons } from './icons.ts'
import { colorFor, initials } from './people.ts'
import type { UiState, UserInfo } from './types.ts'

/** What the element hands its templates: state, words, the video elements and the actions. */
export interface ViewContext {
  s: UiState
  t: Translate
  now: number
  localVideo: HTMLVideoElement
  remoteVideo: HTMLVideoElement
  act: Actions
  /** My accid: group calls tell my tile from the others. */
  me: string
  /** Group calls: each member's video element, bound to the call on first ask. */
  memberVideo(accid: string): HTMLVideoElement
  /** Group calls: every member video made so far, for those without a tile to stay in the page. */
  memberVideos: HTMLVideoElement[]
  /** Group calls: whether the app offers people to invite (`inviteCandidates`). */
  canInvite: boolean
  /** Group calls: the tile area's measured size, and the ref that measures it. */
  grid: { box: { width: number; height: number } | undefined; measure: (element: Element | undefined) => void }
}

export interface Actions {
  accept(asAudio?: boolean): Promise<void>
  reject(): void
  cancel(): void
  hangup(): void
  toggleMic(): void
  toggleCamera(): void
  flipCamera(): void
  switchType(type: 'audio' | 'video'): void
  answerSwitch(agree: boolean): void
  minimize(minimized: boolean): void
  openDevices(open: boolean): void
  selectDevice(kind: DeviceChoice, deviceId: string): void
  unlockSound(): void
  dismissNotice(): void
  openInvite(open: boolean): void
  toggleInvitee(accid: string): void
  sendInvite(): void
}

export function avatar(ctx: ViewContext, extra = ''): TemplateResult {
  const { peer, peerSpeaking } = ctx.s
  const cls = `avatar ${peerSpeaking ? 'speaking' : ''} ${extra}`
  const inner = peer.avatar
    ? html`<img class=${cls} part="avatar" src=${peer.avatar} alt="" />`
    : html`<div class=${cls} part="avatar" aria-hidden="true">${initials(peer.name) || '?'}</div>`
  return html`<slot name="avatar">${inner}</slot>`
}

/** Anyone's avatar, in that person's own color: group call tiles and member lists. */
export function personAvatar(accid: string, info: UserInfo | undefined, extra = ''): TemplateResult {
  const style = `--_peer: ${info?.color ?? colorFor(accid)}`
  return info?.avatar
    ? html`<img class="avatar ${extra}" part="avatar" style=${style} src=${info.avatar} alt="" />`
    : html`<div class="avatar ${extra}" part="avatar" style=${style} aria-hidden="true">
        ${initials(info?.name ?? '')}
      </div>`
}

export interface ButtonOptions {
  cls?: string
  /** `button` plus the button's own part name. */
  part?: string
  /** For toggles: whether it is on. */
  pressed?: boolean
  /** A longer explanation, shown on hover. */
  hint?: string
}

export function button(
  label: string,
  icon: TemplateResult,
  onClick: () => void,
  o: ButtonOptions = {},
): TemplateResult {
  return html`<div class="control" title=${o.hint ?? nothing}>
    <button
      class="btn ${o.cls ?? ''}"
      part=${o.part ?? 'button'}
      aria-label=${label}
      aria-description=${o.hint ?? nothing}
      aria-pressed=${o.pressed === undefined ? nothing : String(o.pressed)}
      @click=${onClick}
    >
      ${icon}
    </button>
    <span aria-hidden="true">${label}</span>
  </div>`
}

export function typeBadge(ctx: ViewContext): TemplateResult {
  const video = ctx.s.type === 'video'
  return html`<span class="badge" part="badge"
    >${video ? icons.video : icons.audio}${ctx.t(video ? 'videoCall' : 'audioCall')}</span
  >`
}

export function hidden(...videos: HTMLVideoElement[]): TemplateResult {
  return html`<div class="hidden" aria-hidden="true">${videos}</div>`
}

export function incomingPanel(ctx: ViewContext): TemplateResult {
  const { s, t, act } = ctx
  const video = s.type === 'video'
  return html`<slot name="incoming">
    <section class="panel incoming ringing" part="panel incoming" role="dialog" aria-label=${t('invitesAudio')}>
      <div class="top">${typeBadge(ctx)}</div>
      <div class="center">
        ${avatar(ctx)}
        <div class="peer-name" part="name">${s.peer.name}</div>
        <div class="status" part="status">${t(video ? 'invitesVideo' : 'invitesAudio')}</div>
      </div>
      ${
        video
          ? html`<div class="controls" style="padding-bottom:0">
              ${button(t('acceptAsAudio'), icons.audio, () => void act.accept(true), { part: 'button accept-audio' })}
            </div>`
          : nothing
      }
      <div class="controls" part="controls">
        ${button(t('reject'), icons.hangup, act.reject, { cls: 'danger big', part: 'button reject' })}
        ${button(t('accept'), video ? icons.video : icons.phone, () => void act.accept(), { cls: 'accept big', part: 'button accept' })}
      </div>
      ${hidden(ctx.localVideo, ctx.remoteVideo)}
    </section>
  </slot>`
}

export function outgoingPanel(ctx: ViewContext): TemplateResult {
  const { s, t, act } = ctx
  const video = s.type === 'video'
  return html`<section class="panel outgoing ringing" part="panel outgoing">
    ${video ? html`<div class="backdrop">${ctx.localVideo}</div>` : nothing}
    <div class="top">${typeBadge(ctx)}</div>
    <div class="center">
      ${avatar(ctx)}
      <div class="peer-name" part="name">${s.peer.name}</div>
      <div class="status" part="status"><span class="dots">${t('waitingAnswer')}</span></div>
    </div>
    <div class="controls" part="controls">
      ${button(t('cancel'), icons.hangup, act.cancel, { cls: 'danger big', part: 'button cancel' })}
    </div>
    ${hidden(...(video ? [ctx.remoteVideo] : [ctx.localVideo, ctx.remoteVideo]))}
  </section>`
}

export function timer(ctx: ViewContext): string {
  const { connectedAt } = ctx.s
  return connectedAt === undefined ? ctx.t('connecting') : formatDuration((ctx.now - connectedAt) / 1000)
}

export function muteButton(ctx: ViewContext): TemplateResult {
  const { s, t, act } = ctx
  return button(t(s.micOff ? 'unmute' : 'mute'), s.micOff ? icons.micOff : icons.mic, act.toggleMic, {
    cls: s.micOff ? 'on' : '',
    part: 'button mute',
    pressed: s.micOff,
  })
}

/** Camera on/off and flip, for video calls. */
export function cameraButtons(ctx: ViewContext): TemplateResult {
  const { s, t, act } = ctx
  return html`${button(
    t(s.cameraOff ? 'cameraOn' : 'cameraOff'),
    s.cameraOff ? icons.videoOff : icons.video,
    act.toggleCamera,
    {
      cls: s.cameraOff ? 'on' : '',
      part: 'button camera',
      pressed: s.cameraOff,
    },
  )}
  ${button(t('switchCamera'), icons.flip, act.flipCamera, { part: 'button flip' })}`
}

function callControls(ctx: ViewContext): TemplateResult {
  const { s, t, act } = ctx
  const video = s.type === 'video'
  return html`<slot name="controls">
    <div class="controls" part="controls">
      ${muteButton(ctx)}
      ${
        video
          ? html`${cameraButtons(ctx)}
            ${button(t('toAudio'), icons.audio, () => act.switchType('audio'), { part: 'button to-audio' })}`
          : html`${button(t('speaker'), icons.speaker, () => act.openDevices(true), { part: 'button devices' })}
            ${button(t('toVideo'), icons.video, () => act.switchType('video'), { part: 'button to-video' })}`
      }
      ${button(t('hangup'), icons.hangup, act.hangup, { cls: 'danger', part: 'button hangup' })}
    </div>
  </slot>`
}

function topBar(ctx: ViewContext, withName: boolean): TemplateResult {
  const { s, t } = ctx
  return html`<div class="top" part="top">
    ${
      withName
        ? html`<div class="who">
            <span class="name" part="name"
              >${s.peer.name}
              ${
                s.peerMicOff
                  ? html`<span class="indicator" part="peer-mic-off" title=${t('remoteMuted', { name: s.peer.name })}
                      >${icons.micOff}</span
                    >`
                  : nothing
              }</span
            >
            <span class="timer" part="timer" role="timer">${timer(ctx)}</span>
          </div>`
        : typeBadge(ctx)
    }
    <span class="spacer"></span>
    ${windowButtons(ctx)}
  </div>`
}

/** Devices and minimize, at the top right of a call. */
export function windowButtons(ctx: ViewContext): TemplateResult {
  const { t, act } = ctx
  return html`<button
      class="icon-button"
      part="button settings"
      aria-label=${t('devices')}
      @click=${() => act.openDevices(true)}
    >
      ${icons.settings}
    </button>
    <button class="icon-button" part="button minimize" aria-label=${t('minimize')} @click=${() => act.minimize(true)}>
      ${icons.minimize}
    </button>`
}

function switchPrompt(ctx: ViewContext): TemplateResult | typeof nothing {
  const { s, t, act } = ctx
  if (s.switchAsked)
    return html`<div class="prompt" part="prompt" role="alertdialog">
      ${t('switchRequest', { name: s.peer.name })}
      <div class="actions">
        <button class="pill" @click=${() => act.answerSwitch(false)}>${t('switchDecline')}</button>
        <button class="pill primary" @click=${() => act.answerSwitch(true)}>${t('switchAgree')}</button>
      </div>
    </div>`
  if (s.switchPending)
    return html`<div class="prompt" part="prompt" role="status">${t('switchRequested', { name: s.peer.name })}</div>`
  return nothing
}

export function videoPanel(ctx: ViewContext): TemplateResult {
  const { s, t } = ctx
  return html`<section class="panel wide connected video" part="panel video">
    ${ctx.remoteVideo}
    ${
      s.peerCameraOff
        ? html`<div class="camera-off-note" part="peer-camera-off">
            ${avatar(ctx)}
            <span>${t('remoteCameraOff', { name: s.peer.name })}</span>
          </div>`
        : nothing
    }
    ${topBar(ctx, true)}
    <div class="local" part="local-video" ${ref(dragRef())}>
      ${ctx.localVideo}${s.cameraOff ? html`<div class="off">${icons.videoOff}</div>` : nothing}
    </div>
    <div class="spacer"></div>
    ${switchPrompt(ctx)} ${callControls(ctx)} ${devicesSheet(ctx)}
  </section>`
}

export function audioPanel(ctx: ViewContext): TemplateResult {
  const { s, t } = ctx
  return html`<section class="panel connected audio" part="panel audio">
    ${topBar(ctx, false)}
    <div class="center">
      ${avatar(ctx)}
      <div class="peer-name" part="name">${s.peer.name}</div>
      <div class="status" part="status">
        ${
          s.peerMicOff
            ? html`<span class="indicator" part="peer-mic-off" title=${t('remoteMuted', { name: s.peer.name })}
                >${icons.micOff}</span
              >`
            : nothing
        }
        <span class="timer" part="timer" role="timer">${timer(ctx)}</span>
      </div>
    </div>
    ${switchPrompt(ctx)} ${callControls(ctx)} ${devicesSheet(ctx)} ${hidden(ctx.localVideo, ctx.remoteVideo)}
  </section>`
}

export function miniWindow(ctx: ViewContext): TemplateResult {
  const video = ctx.s.type === 'video' && !ctx.s.peerCameraOff && ctx.s.connectedAt !== undefined
  return miniShell(
    ctx,
    video ? ctx.remoteVideo : avatar(ctx),
    video,
    video ? [ctx.localVideo] : [ctx.localVideo, ctx.remoteVideo],
  )
}

/**
 * The minimized call: a draggable chip that restores the call when tapped, showing `face` (a video
 * or an avatar) and the time; `offstage` videos stay in the page, hidden, so they keep playing.
 */
export function miniShell(
  ctx: ViewContext,
  face: unknown,
  video: boolean,
  offstage: HTMLVideoElement[],
): TemplateResult {
  const { s, t, act } = ctx
  return html`<div
    class="mini ${video ? 'video' : ''}"
    part="mini"
    role="button"
    tabindex="0"
    aria-label=${t('restore')}
    ${ref(dragRef(() => act.minimize(false)))}
    @keydown=${(e: KeyboardEvent) => (e.key === 'Enter' || e.key === ' ') && act.minimize(false)}
  >
    ${face}
    <span class="timer">${s.view === 'connected' ? timer(ctx) : t('calling')}</span>
    ${hidden(...offstage)}
  </div>`
}

export function dragRef(onTap?: () => void): (element: Element | undefined) => void {
  return (element) => {
    if (element instanceof HTMLElement) makeDraggable(element, onTap)
  }
}

export function devicesSheet(ctx: ViewContext): TemplateResult | typeof nothing {
  const { s, t, act } = ctx
  if (!s.devicesOpen) return nothing
  return html`<div class="sheet" part="devices" role="dialog" aria-label=${t('devices')}>
    <header>
      ${t('devices')}
      <button class="icon-button" aria-label=${t('close')} @click=${() => act.openDevices(false)}>
        ${icons.close}
      </button>
    </header>
    ${deviceSelects(s.devices, s.selected, t, act.selectDevice)}
  </div>`
}

export type DeviceChoice = 'camera' | 'microphone' | 'speaker'
const DEVICE_KINDS = [
  ['camera', 'videoinput'],
  ['microphone', 'audioinput'],
  ['speaker', 'audiooutput'],
] as const

/** A labelled select per camera, microphone and speaker; a kind the runtime lists none of is disabled. */
export function deviceSelects(
  devices: readonly MediaDeviceInfo[],
  selected: Partial<Record<DeviceChoice, string>>,
  t: Translate,
  onSelect: (kind: DeviceChoice, deviceId: string) => void,
): TemplateResult[] {
  return DEVICE_KINDS.map(([kind, deviceKind]) => {
    const options = devices.filter((d) => d.kind === deviceKind)
    return html`<label
      >${t(kind)}
      <select
        ?disabled=${options.length === 0}
        @change=${(e: Event) => onSelect(kind, (e.target as HTMLSelectElement).value)}
      >
        ${options.length === 0 ? html`<option>${t('systemDefault')}</option>` : nothing}
        ${options.map(
          (d, i) =>
            html`<option value=${d.deviceId} ?selected=${selected[kind] === d.deviceId}>
              ${d.label || (d.deviceId === 'default' ? t('systemDefault') : `${t(kind)} ${i + 1}`)}
            </option>`,
        )}
      </select>
    </label>`
  })
}

export function overlays(ctx: ViewContext): TemplateResult {
  const { s, t, act } = ctx
  return html`${
    s.soundBlocked
      ? html`<button class="chip sound" part="enable-sound" @click=${act.unlockSound}>
          ${icons.soundOff}${t('enableSound')}
        </button>`
      : nothing
  }
  ${
    s.notice
      ? html`<div class="notice ${s.notice.kind}" part="notice" role=${s.notice.kind === 'error' ? 'alert' : 'status'}>
          ${s.notice.kind === 'error' ? icons.warning : nothing}<span>${s.notice.text}</span>
          <button aria-label=${t('close')} @click=${act.dismissNotice}>${icons.close}</button>
        </div>`
      : nothing
  }
  ${s.toast ? html`<div class="toast" part="toast" role="status">${s.toast}</div>` : nothing}`
}
