import type { CallRecord, ErrorCode } from '@ringkit/client'

export type Locale = 'en' | 'zh-CN'
export const LOCALES: readonly Locale[] = ['en', 'zh-CN']

const en = {
  videoCall: 'Video call',
  audioCall: 'Audio call',
  invitesVideo: 'Invites you to a video call',
  invitesAudio: 'Invites you to an audio call',
  calling: 'Calling…',
  connecting: 'Connecting…',
  waitingAnswer: 'Waiting for an answer',
  accept: 'Accept',
  reject: 'Decline',
  acceptAsAudio: 'Answer as audio',
  cancel: 'Cancel',
  hangup: 'Hang up',
  mute: 'Mute',
  unmute: 'Unmute',
  cameraOff: 'Camera off',
  cameraOn: 'Camera on',
  switchCamera: 'Flip camera',
  toAudio: 'Switch to audio',
  toVideo: 'Switch to video',
  devices: 'Devices',
  minimize: 'Minimize',
  restore: 'Back to call',
  camera: 'Camera',
  microphone: 'Microphone',
  speaker: 'Speaker',
  systemDefault: 'System default',
  close: 'Close',
  you: 'You',
  remoteMuted: '{name} muted the microphone',
  remoteCameraOff: '{name} turned the camera off',
  switchRequest: '{name} wants to switch to video',
  switchAgree: 'Switch',
  switchDecline: 'Not now',
  switchRequested: 'Asking {name} to switch to video…',
  switchRefused: '{name} declined to switch to video',
  enableSound: 'Tap to enable sound',
  // Record wording: each side reads its own.
  callEnded: 'Call ended',
  recordCompleted: 'Call ended {duration}',
  recordDropped: 'Call dropped {duration}',
  recordCanceled: 'Canceled',
  recordMissed: 'Missed call',
  missedFrom: 'Missed call from {name}',
  missedMany: '{count} missed calls',
  recordDeclined: 'Declined',
  recordYouDeclined: 'You declined',
  recordNoAnswer: 'No answer',
  recordBusy: 'Busy',
  recordFailed: 'Call failed',
  recordInterrupted: 'Call interrupted',
  answeredElsewhere: 'Answered on another device',
  declinedElsewhere: 'Declined on another device',
  // Group calls.
  groupVideoCall: 'Group video call',
  groupAudioCall: 'Group audio call',
  invitesGroupVideo: 'Invites you to a group video call',
  invitesGroupAudio: 'Invites you to a group audio call',
  andOneOther: 'and 1 other',
  andOthers: 'and {count} others',
  onePerson: '1 person',
  people: '{count} people',
  memberRinging: 'Ringing…',
  memberDeclined: 'Declined',
  memberBusy: 'Busy',
  memberNoAnswer: 'No answer',
  memberLeft: 'Left',
  muted: 'Muted',
  leave: 'Leave',
  leaveHint: 'Leave the call; it goes on for the others',
  endForAll: 'End call',
  endForAllHint: 'End the call for everyone',
  invite: 'Invite',
  inviteTitle: 'Add people to the call',
  inviteSend: 'Invite ({count})',
  inviteNone: 'Everyone you can invite is already in the call.',
  youLeft: 'You left the call',
  groupNeedsSfu: 'Group calls of more than 4 people need a media server.',
  groupTooLarge: 'A group call holds at most 25 people.',
  // Notices.
  permissionDenied: 'Camera or microphone access was denied. Allow it in the browser settings and try again.',
  noDevice: 'No camera or microphone was found.',
  deviceInUse: 'The camera or microphone is in use by another app.',
  mediaFailed: 'Could not start the camera or microphone.',
  tokenExpired: 'Your session expired. Please sign in again.',
  kickedOffline: 'You signed in on another device, so this one was signed out.',
  revoked: 'You were signed out.',
  networkLost: 'Network lost. Reconnecting…',
  networkRestored: 'Back online',
  calleeOffline: '{name} is offline',
  calleeBusy: '{name} is busy',
  declinedRecently: '{name} just declined. Try again in a little while',
  callFailed: 'The call could not be placed ({code})',
} satisfies Record<string, string>

export type MessageKey = keyof typeof en
export const MESSAGE_KEYS = Object.keys(en) as MessageKey[]

const zhCN: Record<MessageKey, string> = {
  videoCall: '视频通话',
  audioCall: '语音通话',
  invitesVideo: '邀请你视频通话',
  invitesAudio: '邀请你语音通话',
  calling: '正在呼叫…',
  connecting: '正在连接…',
  waitingAnswer: '等待对方接听',
  accept: '接听',
  reject: '拒绝',
  acceptAsAudio: '语音接听',
  cancel: '取消',
  hangup: '挂断',
  mute: '静音',
  unmute: '取消静音',
  cameraOff: '关闭摄像头',
  cameraOn: '打开摄像头',
  switchCamera: '翻转摄像头',
  toAudio: '切到语音',
  toVideo: '切到视频',
  devices: '设备',
  minimize: '最小化',
  restore: '返回通话',
  camera: '摄像头',
  microphone: '麦克风',
  speaker: '扬声器',
  systemDefault: '系统默认',
  close: '关闭',
  you: '我',
  remoteMuted: '{name} 已静音',
  remoteCameraOff: '{name} 已关闭摄像头',
  switchRequest: '{name} 请求切换到视频通话',
  switchAgree: '切换',
  switchDecline: '暂不',
  switchRequested: '正在请求 {name} 切换到视频…',
  switchRefused: '{name} 拒绝了切换到视频',
  enableSound: '点击开启声音',
  callEnded: '通话已结束',
  recordCompleted: '通话时长 {duration}',
  recordDropped: '通话中断 {duration}',
  recordCanceled: '已取消',
  recordMissed: '未接来电',
  missedFrom: '来自 {name} 的未接来电',
  missedMany: '{count} 个未接来电',
  recordDeclined: '对方已拒绝',
  recordYouDeclined: '已拒绝',
  recordNoAnswer: '对方无应答',
  recordBusy: '对方忙线中',
  recordFailed: '通话失败',
  recordInterrupted: '通话异常中断',
  answeredElsewhere: '已在其他设备接听',
  declinedElsewhere: '已在其他设备拒绝',
  groupVideoCall: '多人视频通话',
  groupAudioCall: '多人语音通话',
  invitesGroupVideo: '邀请你加入多人视频通话',
  invitesGroupAudio: '邀请你加入多人语音通话',
  andOneOther: '和另外 1 人',
  andOthers: '和另外 {count} 人',
  onePerson: '1 人',
  people: '{count} 人',
  memberRinging: '等待接听…',
  memberDeclined: '已拒绝',
  memberBusy: '忙线中',
  memberNoAnswer: '无应答',
  memberLeft: '已离开',
  muted: '已静音',
  leave: '离开',
  leaveHint: '离开通话，其他人的通话继续',
  endForAll: '结束通话',
  endForAllHint: '为所有人结束通话',
  invite: '邀请',
  inviteTitle: '邀请成员加入通话',
  inviteSend: '邀请（{count}）',
  inviteNone: '可以邀请的人都已在通话中。',
  youLeft: '你已离开通话',
  groupNeedsSfu: '超过 4 人的多人通话需要媒体服务器。',
  groupTooLarge: '多人通话最多 25 人。',
  permissionDenied: '摄像头或麦克风权限被拒绝，请在浏览器设置中允许后重试。',
  noDevice: '未找到摄像头或麦克风。',
  deviceInUse: '摄像头或麦克风正被其他应用占用。',
  mediaFailed: '无法启动摄像头或麦克风。',
  tokenExpired: '登录已过期，请重新登录。',
  kickedOffline: '你已在其他设备登录，本设备已下线。',
  revoked: '你已被登出。',
  networkLost: '网络已断开，正在重连…',
  networkRestored: '网络已恢复',
  calleeOffline: '{name} 不在线',
  calleeBusy: '{name} 忙线中',
  declinedRecently: '{name} 刚刚拒绝了通话，请稍后再试',
  callFailed: '呼叫失败（{code}）',
}

const CATALOG: Record<Locale, Record<MessageKey, string>> = { en, 'zh-CN': zhCN }

export type Translate = (key: MessageKey, params?: Record<string, string>) => string

/** Fills `{name}` placeholders from one language's messages; apps use it for their own catalogs too. */
export function catalogTranslator<K extends string>(
  messages: Record<K, string>,
): (key: K, params?: Record<string, string>) => string {
  return (key, params = {}) => messages[key].replace(/\{(\w+)\}/g, (_, name: string) => params[name] ?? '')
}

export function translator(locale: Locale): Translate {
  return catalogTranslator(CATALOG[locale])
}

/** The first supported language the browser prefers; English otherwise. */
export function detectLocale(languages: readonly string[] = globalThis.navigator?.languages ?? []): Locale {
  for (const language of languages) {
    if (/^zh\b/i.test(language)) return 'zh-CN'
    if (/^en\b/i.test(language)) return 'en'
  }
  return 'en'
}

export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds))
  const hh = Math.floor(s / 3600)
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0')
  const ss = String(s % 60).padStart(2, '0')
  return hh > 0 ? `${hh}:${mm}:${ss}` : `${mm}:${ss}`
}

export interface RecordWording {
  text: string
  /** A call that rang me and I never answered. */
  missed: boolean
  outgoing: boolean
}

/** How a call record reads for `me`: the caller and the callee see the same record in their own words. */
export function describeRecord(record: CallRecord, me: string, t: Translate): RecordWording {
  const outgoing = record.caller === me
  const duration = formatDuration(record.durationSeconds)
  const reason = record.endReason
  const say = (key: MessageKey, missed = false): RecordWording => ({ text: t(key, { duration }), missed, outgoing })
  // A group call goes on whatever one callee does: each callee reads what it did itself.
  const mine = record.isGroup && !outgoing ? record.members.find((m) => m.accid === me) : undefined
  if (mine && mine.status !== 'joined')
    return mine.status === 'rejected' ? say('recordYouDeclined') : say('recordMissed', true)
  switch (record.status) {
    case 1:
      return say(reason === 'hangup' || reason === 'kicked' ? 'recordCompleted' : 'recordDropped')
    case 2:
      return outgoing ? say('recordCanceled') : say('recordMissed', true)
    case 3:
      return outgoing ? say('recordDeclined') : say('recordYouDeclined')
    case 4:
      if (reason === 'interrupted') return say('recordInterrupted', !outgoing)
      if (reason === 'failed') return say('recordFailed', !outgoing)
      return outgoing ? say('recordNoAnswer') : say('recordMissed', true)
    case 5:
      return outgoing ? say('recordBusy') : say('recordMissed', true)
  }
}

/** The notice a failed call action shows, for the codes users can act on. */
export function errorMessage(code: ErrorCode | string, peerName: string, t: Translate): string {
  switch (code) {
    case 'MEDIA_PERMISSION_DENIED':
      return t('permissionDenied')
    case 'MEDIA_DEVICE_NOT_FOUND':
      return t('noDevice')
    case 'MEDIA_DEVICE_IN_USE':
      return t('deviceInUse')
    case 'MEDIA_UNAVAILABLE':
    case 'MEDIA_FAILED':
      return t('mediaFailed')
    case 'CALLEE_OFFLINE':
      return t('calleeOffline', { name: peerName })
    case 'DECLINED_RECENTLY':
      return t('declinedRecently', { name: peerName })
    case 'TOKEN_EXPIRED':
      return t('tokenExpired')
    case 'SFU_REQUIRED':
      return t('groupNeedsSfu')
    case 'GROUP_TOO_LARGE':
      return t('groupTooLarge')
    case 'KICKED_OFFLINE':
      return t('kickedOffline')
    default:
      return t('callFailed', { code })
  }
}
