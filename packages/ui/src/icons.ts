import { html, svg, type SVGTemplateResult, type TemplateResult } from 'lit'

// 24×24 stroke icons, drawn for this kit: currentColor, so buttons color them.
const icon = (body: SVGTemplateResult, filled = false): TemplateResult =>
  html`<svg
    viewBox="0 0 24 24"
    width="24"
    height="24"
    aria-hidden="true"
    fill=${filled ? 'currentColor' : 'none'}
    stroke=${filled ? 'none' : 'currentColor'}
    stroke-width="1.8"
    stroke-linecap="round"
    stroke-linejoin="round"
  >
    ${body}
  </svg>`

const PHONE =
  'M6.6 10.8a15.1 15.1 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.57a1 1 0 0 1-.25 1z'

export const icons = {
  phone: icon(svg`<path d=${PHONE} />`, true),
  hangup: icon(svg`<path d=${PHONE} transform="rotate(135 12 12)" />`, true),
  video: icon(svg`<rect x="2.5" y="6" width="13" height="12" rx="2.5" /><path d="M15.5 10.5 21 7.5v9l-5.5-3" />`),
  videoOff: icon(
    svg`<path d="M15.5 13.5V8.5a2.5 2.5 0 0 0-2.5-2.5H8M4 6.3A2.5 2.5 0 0 0 2.5 8.5v7A2.5 2.5 0 0 0 5 18h8.5" />
      <path d="M15.5 10.5 21 7.5v9l-3.2-1.7M3 3l18 18" />`,
  ),
  mic: icon(svg`<rect x="9" y="3" width="6" height="11" rx="3" /> <path d="M5.5 11a6.5 6.5 0 0 0 13 0M12 17.5V21" />`),
  micOff: icon(
    svg`<path d="M15 10V6a3 3 0 0 0-5.7-1.3M9 9v2a3 3 0 0 0 4.6 2.5" />
      <path d="M5.5 11a6.5 6.5 0 0 0 10.7 5M18.5 11a6.5 6.5 0 0 1-.4 2.2M12 17.5V21M3 3l18 18" />`,
  ),
  flip: icon(
    svg`<path d="M4 8.5h3l1.5-2.5h7L17 8.5h3v10H4z" />
      <path
        d="M9.5 13.5a2.5 2.5 0 0 0 4.6 1.4M14.5 12.5a2.5 2.5 0 0 0-4.6-1.4M14.6 15.6l-.5-.7.9-.5M9.4 10.4l.5.7-.9.5"
      />`,
  ),
  audio: icon(svg`<path d=${PHONE} />`),
  speaker: icon(
    svg`<path d="M4 9.5h3.5L12 5.5v13l-4.5-4H4z" /> <path d="M15.5 9a4 4 0 0 1 0 6M18 6.5a7.5 7.5 0 0 1 0 11" />`,
  ),
  settings: icon(
    svg`<circle cx="12" cy="12" r="3" />
      <path
        d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z"
      />`,
  ),
  minimize: icon(svg`<path d="M9 4v5H4M15 20v-5h5M4 4l5 5M20 20l-5-5" />`),
  close: icon(svg`<path d="M6 6l12 12M18 6 6 18" />`),
  people: icon(
    svg`<circle cx="9" cy="8" r="3.5" /><path d="M2.5 20a6.5 6.5 0 0 1 13 0M16 4.5a3.5 3.5 0 0 1 0 7M18 14a6.5 6.5 0 0 1 3.5 6" />`,
  ),
  personAdd: icon(svg`<circle cx="9" cy="8" r="3.5" /><path d="M2.5 20a6.5 6.5 0 0 1 13 0M18.5 8v6M15.5 11h6" />`),
  check: icon(svg`<path d="M5 12.5l4.5 4.5L19 7.5" />`),
  soundOff: icon(svg`<path d="M4 9.5h3.5L12 5.5v13l-4.5-4H4zM16 9.5l5 5M21 9.5l-5 5" />`),
  warning: icon(svg`<path d="M12 3.5 22 20H2zM12 10v4.5M12 17.2v.1" />`),
}
