import { css } from 'lit'

/**
 * Every color, radius and font comes from a custom property, so an app themes the kit from its own
 * stylesheet: `ringkit-call { --ringkit-accept: #07c160; --ringkit-radius: 12px }`.
 */
export const callStyles = css`
  :host {
    --_font: var(
      --ringkit-font,
      system-ui,
      -apple-system,
      'Segoe UI',
      Roboto,
      'PingFang SC',
      'Hiragino Sans GB',
      'Microsoft YaHei',
      sans-serif
    );
    --_fg: var(--ringkit-fg, #f8fafc);
    --_muted: var(--ringkit-muted, rgba(248, 250, 252, 0.68));
    --_bg: var(--ringkit-bg, #0f172a);
    --_bg2: var(--ringkit-bg-2, #1e293b);
    --_accept: var(--ringkit-accept, #22c55e);
    --_danger: var(--ringkit-danger, #ef4444);
    --_accent: var(--ringkit-accent, #3b82f6);
    --_control: var(--ringkit-control-bg, rgba(255, 255, 255, 0.16));
    --_radius: var(--ringkit-radius, 24px);
    --_button: var(--ringkit-button-size, 60px);
    position: fixed;
    inset: 0;
    z-index: var(--ringkit-z-index, 2147483000);
    pointer-events: none;
    font-family: var(--_font);
    color: var(--_fg);
    -webkit-font-smoothing: antialiased;
  }
  * {
    box-sizing: border-box;
  }
  .overlay {
    position: absolute;
    inset: 0;
    display: grid;
    place-items: center;
    pointer-events: auto;
    background: rgba(2, 6, 23, 0.55);
    backdrop-filter: blur(8px);
    animation: fade 0.18s ease-out;
  }
  .panel {
    position: relative;
    width: min(100vw, 420px);
    height: min(100dvh, 760px);
    border-radius: var(--_radius);
    overflow: hidden;
    display: flex;
    flex-direction: column;
    background:
      radial-gradient(
        120% 60% at 50% 0%,
        color-mix(in srgb, var(--_peer, var(--_accent)) 45%, transparent),
        transparent
      ),
      linear-gradient(180deg, var(--_bg2), var(--_bg));
    box-shadow: 0 30px 80px rgba(0, 0, 0, 0.45);
  }
  .panel.wide {
    width: min(100vw, 1080px);
    height: min(100dvh, 700px);
    background: #000;
  }
  @media (max-width: 520px) {
    .panel,
    .panel.wide {
      width: 100vw;
      height: 100dvh;
      border-radius: 0;
    }
  }
  .top {
    position: relative;
    z-index: 3;
    display: flex;
    align-items: center;
    gap: 10px;
    padding: 18px 18px 0;
    min-height: 62px;
  }
  .wide .top {
    position: absolute;
    inset: 0 0 auto 0;
    padding-bottom: 40px;
    background: linear-gradient(rgba(0, 0, 0, 0.55), transparent);
  }
  .badge {
    display: inline-flex;
    align-items: center;
    gap: 6px;
    padding: 6px 12px;
    border-radius: 999px;
    background: var(--_control);
    font-size: 13px;
    font-weight: 500;
  }
  .badge svg {
    width: 16px;
    height: 16px;
  }
  .spacer {
    flex: 1;
  }
  .who {
    display: flex;
    flex-direction: column;
    min-width: 0;
  }
  .who .name {
    font-size: 17px;
    font-weight: 600;
    white-space: nowrap;
    overflow: hidden;
    text-overflow: ellipsis;
  }
  .who .timer,
  .timer {
    font-variant-numeric: tabular-nums;
    color: var(--_muted);
    font-size: 14px;
  }
  .icon-button,
  .btn {
    width: 40px;
    height: 40px;
    border-radius: 50%;
    border: 0;
    display: grid;
    place-items: center;
    color: var(--_fg);
    background: var(--_control);
    cursor: pointer;
  }
  .icon-button svg {
    width: 20px;
    height: 20px;
  }
  .center {
    flex: 1;
    position: relative;
    z-index: 2;
    display: flex;
    flex-direction: column;
    align-items: center;
    justify-content: center;
    gap: 14px;
    padding: 0 24px;
    text-align: center;
  }
  .avatar {
    width: 112px;
    height: 112px;
    border-radius: 50%;
    display: grid;
    place-items: center;
    font-size: 42px;
    font-weight: 600;
    color: #fff;
    background: var(--_peer, var(--_accent));
    box-shadow: 0 0 0 6px rgba(255, 255, 255, 0.08);
    object-fit: cover;
    transition: box-shadow 0.2s;
    user-select: none;
  }
  .avatar.speaking {
    box-shadow:
      0 0 0 6px rgba(255, 255, 255, 0.08),
      0 0 0 14px color-mix(in srgb, var(--_accept) 35%, transparent);
  }
  .ringing .avatar {
    animation: pulse 1.6s ease-out infinite;
  }
  .peer-name {
    font-size: 28px;
    font-weight: 600;
    letter-spacing: 0.2px;
  }
  .status {
    font-size: 15px;
    color: var(--_muted);
    display: inline-flex;
    align-items: center;
    gap: 6px;
  }
  .status svg {
    width: 18px;
    height: 18px;
  }
  .controls {
    position: relative;
    z-index: 3;
    display: flex;
    justify-content: center;
    align-items: flex-start;
    flex-wrap: wrap;
    gap: 18px 22px;
    padding: 20px 20px max(36px, env(safe-area-inset-bottom));
  }
  .wide .controls {
    position: absolute;
    inset: auto 0 0 0;
    padding-top: 48px;
    background: linear-gradient(transparent, rgba(0, 0, 0, 0.6));
  }
  .control {
    display: flex;
    flex-direction: column;
    align-items: center;
    gap: 8px;
    width: 76px;
    font-size: 12px;
    color: var(--_muted);
    text-align: center;
    line-height: 1.25;
  }
  .btn {
    width: var(--_button);
    height: var(--_button);
    transition:
      transform 0.1s,
      background 0.15s;
  }
  .btn:hover {
    background: rgba(255, 255, 255, 0.26);
  }
  .btn:active {
    transform: scale(0.94);
  }
  .btn:focus-visible,
  .icon-button:focus-visible,
  .chip:focus-visible {
    outline: 3px solid color-mix(in srgb, var(--_accent) 80%, white);
    outline-offset: 3px;
  }
  .btn.on {
    background: var(--_fg);
    color: var(--_bg);
  }
  .btn.accept {
    background: var(--_accept);
  }
  .btn.danger {
    background: var(--_danger);
  }
  .btn.big {
    width: calc(var(--_button) + 12px);
    height: calc(var(--_button) + 12px);
  }
  .btn svg {
    width: 26px;
    height: 26px;
  }
  .btn.big svg {
    width: 30px;
    height: 30px;
  }
  .incoming .controls {
    gap: 18px 64px;
  }
  video {
    display: block;
    background: #000;
  }
  .remote {
    position: absolute;
    inset: 0;
    width: 100%;
    height: 100%;
    object-fit: cover;
  }
  .backdrop {
    position: absolute;
    inset: 0;
    z-index: 1;
  }
  .backdrop video {
    width: 100%;
    height: 100%;
    object-fit: cover;
    transform: scaleX(-1);
    filter: brightness(0.55);
  }
  .local {
    position: absolute;
    z-index: 4;
    top: 84px;
    right: 16px;
    width: clamp(96px, 24%, 220px);
    aspect-ratio: 3 / 4;
    border-radius: 14px;
    overflow: hidden;
    box-shadow: 0 8px 24px rgba(0, 0, 0, 0.45);
    border: 2px solid rgba(255, 255, 255, 0.5);
    cursor: grab;
    touch-action: none;
  }
  @media (min-width: 521px) {
    .local {
      aspect-ratio: 4 / 3;
    }
  }
  .local video {
    width: 100%;
    height: 100%;
    object-fit: cover;
    transform: scaleX(-1);
  }
  .local .off {
    position: absolute;
    inset: 0;
    display: grid;
    place-items: center;
    background: var(--_bg2);
    color: var(--_muted);
  }
  .hidden {
    position: absolute;
    width: 1px;
    height: 1px;
    opacity: 0;
    pointer-events: none;
    overflow: hidden;
  }
  .indicator {
    display: inline-flex;
    align-items: center;
    justify-content: center;
    width: 26px;
    height: 26px;
    border-radius: 50%;
    background: var(--_danger);
  }
  .indicator svg {
    width: 16px;
    height: 16px;
  }
  .camera-off-note {
    position: absolute;
    inset: 0;
    z-index: 1;
    display: flex;
    flex-direction: column;
    align-items: center;
    justify-content: center;
    gap: 14px;
    background: linear-gradient(180deg, var(--_bg2), var(--_bg));
    color: var(--_muted);
  }
  .prompt {
    position: absolute;
    z-index: 5;
    left: 50%;
    top: 84px;
    transform: translateX(-50%);
    width: min(92%, 360px);
    padding: 16px;
    border-radius: 16px;
    background: rgba(15, 23, 42, 0.92);
    box-shadow: 0 10px 30px rgba(0, 0, 0, 0.4);
    text-align: center;
    font-size: 15px;
  }
  .prompt .actions {
    display: flex;
    gap: 10px;
    justify-content: center;
    margin-top: 12px;
  }
  .pill {
    border: 0;
    border-radius: 999px;
    padding: 9px 18px;
    font: inherit;
    font-size: 14px;
    font-weight: 600;
    color: var(--_fg);
    background: var(--_control);
    cursor: pointer;
  }
  .pill.primary {
    background: var(--_accept);
  }
  .sheet {
    position: absolute;
    z-index: 6;
    inset: auto 0 0 0;
    padding: 20px 20px max(24px, env(safe-area-inset-bottom));
    border-radius: 20px 20px 0 0;
    background: rgba(15, 23, 42, 0.97);
    display: grid;
    gap: 14px;
    animation: rise 0.18s ease-out;
  }
  .sheet header {
    display: flex;
    align-items: center;
    justify-content: space-between;
    font-weight: 600;
    font-size: 16px;
  }
  .sheet label {
    display: grid;
    gap: 6px;
    font-size: 13px;
    color: var(--_muted);
  }
  .sheet select {
    font: inherit;
    font-size: 15px;
    padding: 10px 12px;
    border-radius: 12px;
    border: 1px solid rgba(255, 255, 255, 0.2);
    background: var(--_bg2);
    color: var(--_fg);
  }
  .chip {
    display: inline-flex;
    align-items: center;
    gap: 6px;
    border: 0;
    border-radius: 999px;
    padding: 8px 14px;
    font: inherit;
    font-size: 13px;
    color: #0f172a;
    background: #fde68a;
    cursor: pointer;
    pointer-events: auto;
  }
  .chip svg {
    width: 16px;
    height: 16px;
  }
  .mini {
    position: absolute;
    right: 20px;
    bottom: var(--ringkit-mini-bottom, 24px);
    width: 136px;
    height: 184px;
    border-radius: 18px;
    overflow: hidden;
    pointer-events: auto;
    cursor: pointer;
    touch-action: none;
    background: linear-gradient(180deg, var(--_bg2), var(--_bg));
    box-shadow: 0 12px 32px rgba(0, 0, 0, 0.4);
    border: 2px solid rgba(255, 255, 255, 0.35);
    display: flex;
    flex-direction: column;
    align-items: center;
    justify-content: center;
    gap: 10px;
    animation: fade 0.18s ease-out;
  }
  .mini .avatar {
    width: 64px;
    height: 64px;
    font-size: 24px;
  }
  .mini .timer {
    position: relative;
    z-index: 2;
    color: var(--_fg);
    text-shadow: 0 1px 3px rgba(0, 0, 0, 0.6);
  }
  .mini.video .timer {
    position: absolute;
    bottom: 8px;
  }
  .toast,
  .notice {
    position: absolute;
    left: 50%;
    transform: translateX(-50%);
    width: max-content;
    max-width: min(92vw, 520px);
    border-radius: 14px;
    padding: 12px 18px;
    font-size: 15px;
    line-height: 1.4;
    pointer-events: auto;
    box-shadow: 0 10px 30px rgba(0, 0, 0, 0.3);
    animation: fade 0.2s ease-out;
  }
  .toast {
    bottom: var(--ringkit-toast-bottom, 48px);
    background: rgba(15, 23, 42, 0.92);
    color: var(--_fg);
    font-weight: 500;
    text-align: center;
  }
  .notice {
    top: 16px;
    display: flex;
    align-items: center;
    gap: 10px;
    background: #fff7ed;
    color: #7c2d12;
    z-index: 10;
  }
  .notice.info {
    background: #ecfdf5;
    color: #065f46;
  }
  .notice svg {
    width: 20px;
    height: 20px;
    flex: none;
  }
  .notice button {
    border: 0;
    background: transparent;
    color: inherit;
    cursor: pointer;
    padding: 2px;
    display: grid;
  }
  .sound {
    position: absolute;
    z-index: 7;
    top: 70px;
    left: 50%;
    transform: translateX(-50%);
  }
  .dots::after {
    content: '';
    animation: dots 1.4s steps(4) infinite;
  }
  @keyframes dots {
    0% {
      content: '';
    }
    25% {
      content: '.';
    }
    50% {
      content: '..';
    }
    75% {
      content: '...';
    }
  }
  @keyframes pulse {
    0% {
      box-shadow:
        0 0 0 0 rgba(255, 255, 255, 0.35),
        0 0 0 6px rgba(255, 255, 255, 0.08);
    }
    100% {
      box-shadow:
        0 0 0 26px rgba(255, 255, 255, 0),
        0 0 0 6px rgba(255, 255, 255, 0.08);
    }
  }
  @keyframes fade {
    from {
      opacity: 0;
    }
  }
  @keyframes rise {
    from {
      transform: translateY(30px);
      opacity: 0;
    }
  }
  @media (prefers-reduced-motion: reduce) {
    * {
      animation: none !important;
    }
  }
`
