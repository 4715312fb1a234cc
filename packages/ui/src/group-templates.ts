import { html, nothing, type TemplateResult } from 'lit'
import { ref } from 'lit/directives/ref.js'
import { repeat } from 'lit/directives/repeat.js'
import { gridShape, hasTile, here, isHere, NO_GROUP, NO_MEDIA } from './group.ts'
import type { MessageKey } from './i18n.ts'
import { icons } from './icons.ts'
import { colorFor } from './people.ts'
import {
  avatar,
  button,
  cameraButtons,
  devicesSheet,
  hidden,
  miniShell,
  muteButton,
  personAvatar,
  timer,
  windowButtons,
  type ViewContext,
} from './templates.ts'
import type { GroupMemberStatus, GroupState, MemberMedia, MemberView } from './types.ts'

/** Tiles keep the shape of a camera picture; the fake and most webcams send 4:3. */
const TILE_ASPECT = 4 / 3
const TILE_GAP = 10
const STATE_WORDS: Record<Exclude<GroupMemberStatus, 'joined'>, MessageKey> = {
  ringing: 'memberRinging',
  rejected: 'memberDeclined',
  busy: 'memberBusy',
  missed: 'memberNoAnswer',
  canceled: 'memberNoAnswer',
  left: 'memberLeft',
}

function groupOf(ctx: ViewContext): GroupState {
  return ctx.s.group ?? NO_GROUP
}

function groupBadge(ctx: ViewContext): TemplateResult {
  const video = ctx.s.type === 'video'
  return html`<span class="badge" part="badge"
    >${icons.people}${ctx.t(video ? 'groupVideoCall' : 'groupAudioCall')}</span
  >`
}

/** A group call rings me: who calls, who else is in it, decline or accept. */
export function groupIncomingPanel(ctx: ViewContext): TemplateResult {
  const { s, t, act } = ctx
  const video = s.type === 'video'
  const others = groupOf(ctx).members.filter((m) => m.accid !== s.peer.accid && m.accid !== ctx.me)
  const invites = t(video ? 'invitesGroupVideo' : 'invitesGroupAudio')
  const shown = others.slice(0, 4)
  return html`<slot name="incoming">
    <section class="panel incoming ringing group-invite" part="panel incoming" role="dialog" aria-label=${invites}>
      <div class="top">${groupBadge(ctx)}</div>
      <div class="center">
        ${avatar(ctx)}
        <div class="peer-name" part="name">${s.peer.name}</div>
        ${
          others.length > 0
            ? html`<div class="others" part="others">
                ${t(others.length === 1 ? 'andOneOther' : 'andOthers', { count: String(others.length) })}
              </div>`
            : nothing
        }
        <div class="status" part="status">${invites}</div>
        <div class="stack" part="members">
          ${shown.map((m) => personAvatar(m.accid, s.people[m.accid]))}
          ${others.length > shown.length ? html`<span class="avatar more">+${others.length - shown.length}</span>` : nothing}
        </div>
        <div class="names">
          ${shown.map((m) => s.people[m.accid]?.name ?? '').join(', ')}${others.length > shown.length ? ' …' : ''}
        </div>
      </div>
      <div class="controls" part="controls">
        ${button(t('reject'), icons.hangup, act.reject, { cls: 'danger big', part: 'button reject' })}
        ${button(t('accept'), video ? icons.video : icons.phone, () => void act.accept(), {
          cls: 'accept big',
          part: 'button accept',
        })}
      </div>
      ${hidden(ctx.localVideo, ...ctx.memberVideos)}
    </section>
  </slot>`
}

/** A group call I placed that still rings (every tile says "Calling…"), or the call itself. */
export function groupPanel(ctx: ViewContext): TemplateResult {
  const { s, now } = ctx
  const outgoing = s.view === 'outgoing'
  // I am in the call from my answer on, before the call's next word on who stands where.
  const members = groupOf(ctx).members.map((m) =>
    m.accid === ctx.me && s.view === 'connected' ? { ...m, status: 'joined' as const } : m,
  )
  const tiles = members.filter((m) => hasTile(m, now) && !(outgoing && m.accid === ctx.me))
  const box = ctx.grid.box
  const shape = box && gridShape(tiles.length, box, TILE_ASPECT, TILE_GAP)
  const style = shape ? `--columns: ${shape.columns}; --tile-width: ${shape.tileWidth}px` : ''
  const inTiles = tiles.filter((m) => m.status === 'joined').map((m) => videoOf(ctx, m.accid))
  const offscreen = [ctx.localVideo, ...ctx.memberVideos].filter((v) => !inTiles.includes(v))
  return html`<section class="panel wide group ${outgoing ? 'calling' : 'connected'}" part="panel group">
    ${groupTop(ctx, outgoing, members.filter((m) => m.status === 'joined').length)}
    <div class="grid" part="grid" ${ref(ctx.grid.measure)}>
      <div class="tiles" style=${style}>
        ${repeat(
          tiles,
          (m) => m.accid,
          (m) => tile(ctx, m, outgoing),
        )}
      </div>
    </div>
    ${outgoing ? cancelControls(ctx) : groupControls(ctx)} ${inviteSheet(ctx)} ${devicesSheet(ctx)}
    ${hidden(...offscreen)}
  </section>`
}

function videoOf(ctx: ViewContext, accid: string): HTMLVideoElement {
  return accid === ctx.me ? ctx.localVideo : ctx.memberVideo(accid)
}

function groupTop(ctx: ViewContext, outgoing: boolean, joined: number): TemplateResult {
  const { t } = ctx
  return html`<div class="top" part="top">
    <div class="who">
      <span class="name" part="name">${ctx.t(ctx.s.type === 'video' ? 'groupVideoCall' : 'groupAudioCall')}</span>
      <span class="timer" part="timer" role="timer"
        >${outgoing ? t('calling') : `${timer(ctx)} · ${joined === 1 ? t('onePerson') : t('people', { count: String(joined) })}`}</span
      >
    </div>
    <span class="spacer"></span>
    ${windowButtons(ctx)}
  </div>`
}

function tile(ctx: ViewContext, member: MemberView, outgoing: boolean): TemplateResult {
  const { s, t } = ctx
  const group = groupOf(ctx)
  const me = member.accid === ctx.me
  const media = me
    ? { entered: true, micOff: s.micOff, cameraOff: s.cameraOff }
    : (group.media[member.accid] ?? NO_MEDIA)
  const joined = member.status === 'joined'
  const showsVideo = s.type === 'video' && joined && media.entered && !media.cameraOff
  const info = s.people[member.accid]
  const name = me ? t('you') : (info?.name ?? '')
  const speaking = joined && group.speaker === member.accid
  const words = stateWords(member, media, outgoing)
  const state = words && t(words)
  return html`<figure
    class="tile ${me ? 'me' : ''} ${speaking ? 'speaking' : ''} ${isHere(member) ? '' : 'away'}"
    part="tile${speaking ? ' speaker' : ''}"
    data-accid=${member.accid}
    data-status=${member.status}
  >
    ${joined ? videoOf(ctx, member.accid) : nothing}
    ${
      showsVideo
        ? nothing
        : html`<div class="cover" style="--_peer: ${info?.color ?? colorFor(member.accid)}">
            ${personAvatar(member.accid, info, member.status === 'ringing' ? 'pulsing' : '')}
            ${
              state
                ? html`<span class="tile-state ${member.status}" part="tile-state"
                    ><span class=${state.endsWith('…') ? 'dots' : ''}>${state.replace(/…$/, '')}</span></span
                  >`
                : nothing
            }
          </div>`
    }
    <figcaption class="label" part="tile-name">
      ${
        media.micOff && joined
          ? html`<span class="mic-off" part="tile-mic-off" role="img" aria-label=${t('muted')}>${icons.micOff}</span>`
          : nothing
      }
      <span class="who-name">${name}</span>
    </figcaption>
  </figure>`
}

/** What a tile says over the picture: how a member's ringing went, or that its media is on the way. */
function stateWords(member: MemberView, media: MemberMedia, outgoing: boolean): MessageKey | undefined {
  if (member.status === 'joined') return media.entered ? undefined : 'connecting'
  if (outgoing && member.status === 'ringing') return 'calling'
  return STATE_WORDS[member.status]
}

function cancelControls(ctx: ViewContext): TemplateResult {
  const { t, act } = ctx
  return html`<div class="controls" part="controls">
    ${button(t('cancel'), icons.hangup, act.cancel, { cls: 'danger', part: 'button cancel' })}
  </div>`
}

function groupControls(ctx: ViewContext): TemplateResult {
  const { s, t, act } = ctx
  const caller = groupOf(ctx).members[0]?.accid === ctx.me
  return html`<slot name="controls">
    <div class="controls" part="controls">
      ${muteButton(ctx)}
      ${
        s.type === 'video'
          ? cameraButtons(ctx)
          : button(t('speaker'), icons.speaker, () => act.openDevices(true), { part: 'button devices' })
      }
      ${
        ctx.canInvite
          ? button(t('invite'), icons.personAdd, () => act.openInvite(true), { part: 'button invite' })
          : nothing
      }
      ${
        caller
          ? button(t('endForAll'), icons.hangup, act.hangup, {
              cls: 'danger',
              part: 'button hangup',
              hint: t('endForAllHint'),
            })
          : button(t('leave'), icons.hangup, act.hangup, {
              cls: 'danger',
              part: 'button hangup leave',
              hint: t('leaveHint'),
            })
      }
    </div>
  </slot>`
}

/** The app's candidates, less those in the call or ringing already: tick some, invite them. */
function inviteSheet(ctx: ViewContext): TemplateResult | typeof nothing {
  const { s, t, act } = ctx
  const group = groupOf(ctx)
  const invite = group.invite
  if (!invite) return nothing
  const present = here(group.members)
  const candidates = invite.candidates?.filter((c) => c.accid !== ctx.me && !present.has(c.accid))
  const chosen = invite.chosen.filter((accid) => candidates?.some((c) => c.accid === accid))
  return html`<div class="scrim" @click=${() => act.openInvite(false)}></div>
    <div class="sheet invite" part="invite-sheet" role="dialog" aria-label=${t('inviteTitle')}>
      <header>
        ${t('inviteTitle')}
        <button class="icon-button" aria-label=${t('close')} @click=${() => act.openInvite(false)}>
          ${icons.close}
        </button>
      </header>
      ${
        candidates === undefined
          ? html`<div class="people loading" aria-busy="true"></div>`
          : candidates.length === 0
            ? html`<p class="none">${t('inviteNone')}</p>`
            : html`<ul class="people">
                ${candidates.map((c) => {
                  const known = s.people[c.accid]
                  const info = { ...known, ...c, name: c.name ?? known?.name ?? '' }
                  const ticked = chosen.includes(c.accid)
                  return html`<li>
                    <label class="person ${ticked ? 'ticked' : ''}" part="invitee" data-accid=${c.accid}>
                      <input type="checkbox" .checked=${ticked} @change=${() => act.toggleInvitee(c.accid)} />
                      ${personAvatar(c.accid, info)}
                      <span class="person-name">${info.name ?? ''}</span>
                      <span class="tick" aria-hidden="true">${icons.check}</span>
                    </label>
                  </li>`
                })}
              </ul>`
      }
      <button
        class="pill primary send"
        part="button invite-send"
        ?disabled=${chosen.length === 0 || invite.sending}
        @click=${act.sendInvite}
      >
        ${icons.personAdd}${chosen.length > 0 ? t('inviteSend', { count: String(chosen.length) }) : t('invite')}
      </button>
    </div>`
}

/** Minimized: whoever speaks (or the first other member), video or avatar, and the time. */
export function groupMini(ctx: ViewContext): TemplateResult {
  const { s } = ctx
  const group = groupOf(ctx)
  const others = group.members.filter((m) => m.accid !== ctx.me && m.status === 'joined')
  const featured = others.find((m) => m.accid === group.speaker) ?? others[0]
  const media = featured ? (group.media[featured.accid] ?? NO_MEDIA) : NO_MEDIA
  const video =
    featured && s.type === 'video' && media.entered && !media.cameraOff ? ctx.memberVideo(featured.accid) : undefined
  const face = video ?? (featured ? personAvatar(featured.accid, s.people[featured.accid]) : avatar(ctx))
  const offstage = [ctx.localVideo, ...ctx.memberVideos].filter((v) => v !== video)
  return miniShell(ctx, face, video !== undefined, offstage)
}
