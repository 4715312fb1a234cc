import { RingkitCall } from './RingkitCall.ts'

export { RingkitCall } from './RingkitCall.ts'
export { colorFor } from './people.ts'
export { deviceSelects, type DeviceChoice } from './templates.ts'
export {
  LOCALES,
  catalogTranslator,
  describeRecord,
  detectLocale,
  errorMessage,
  formatDuration,
  translator,
  type Locale,
  type MessageKey,
  type RecordWording,
  type Translate,
} from './i18n.ts'
export { icons } from './icons.ts'
export { Tones, type ToneKind, type ToneUrls } from './sounds.ts'
export type { CallView, InviteCandidate, InviteCandidates, ResolveUser, UserInfo } from './types.ts'

// Defining the tag is what importing the kit is for; a second copy on the page keeps the first.
if (!customElements.get('ringkit-call')) customElements.define('ringkit-call', RingkitCall)

declare global {
  interface HTMLElementTagNameMap {
    'ringkit-call': RingkitCall
  }
}
