import { css } from 'lit'

/** Group calls: the invitation, the grid of tiles and the invite sheet. Colors come from `callStyles`' properties. */
export const groupStyles = css`
  /* ---- the invitation ---- */
  .group-invite .others {
    margin-top: -8px;
    font-size: 17px;
    font-weight: 500;
  }
  .stack {
    display: flex;
    justify-content: center;
    margin-top: 10px;
  }
  .stack .avatar {
    width: 44px;
    height: 44px;
    margin-left: -10px;
    font-size: 16px;
    box-shadow: 0 0 0 3px var(--_bg2);
    animation: none;
  }
  .stack .avatar:first-child {
    margin-left: 0;
  }
  .stack .more {
    background: var(--_bg2);
    color: var(--_fg);
  }
  .names {
    max-width: 320px;
    font-size: 13px;
    color: var(--_muted);
    line-height: 1.4;
  }

  /* ---- the call: a top bar, the grid, the buttons ---- */
  .panel.group {
    width: min(100vw - 48px, 1200px);
    height: min(100dvh - 48px, 820px);
    background:
      radial-gradient(120% 70% at 50% 0%, color-mix(in srgb, var(--_accent) 16%, transparent), transparent),
      linear-gradient(180deg, var(--_bg2), var(--_bg));
  }
  @media (max-width: 520px) {
    .panel.group {
      width: 100vw;
      height: 100dvh;
    }
  }
  .panel.group .top {
    position: relative;
    inset: auto;
    padding: 18px 18px 10px;
    min-height: 0;
    background: none;
  }
  .panel.group .controls {
    position: relative;
    inset: auto;
    padding: 14px 12px max(24px, env(safe-area-inset-bottom));
    background: none;
    flex-wrap: nowrap;
  }
  @media (max-width: 520px) {
    .panel.group {
      --_button: 52px;
    }
    .panel.group .controls {
      gap: 8px 4px;
    }
    .panel.group .control {
      width: 68px;
    }
  }
  .grid {
    flex: 1;
    min-height: 0;
    padding: 6px 16px;
    display: grid;
    place-items: center;
  }
  .tiles {
    --_gap: 10px;
    display: flex;
    flex-wrap: wrap;
    justify-content: center;
    align-content: center;
    gap: var(--_gap);
    width: calc(var(--columns, 2) * var(--tile-width, 240px) + (var(--columns, 2) - 1) * var(--_gap));
    max-width: 100%;
  }
  .tile {
    position: relative;
    margin: 0;
    width: var(--tile-width, 240px);
    aspect-ratio: 4 / 3;
    border-radius: 16px;
    overflow: hidden;
    container-type: size;
    background: var(--_bg2);
    box-shadow: 0 0 0 1px color-mix(in srgb, var(--_fg) 10%, transparent);
    transition: box-shadow 0.3s;
    animation: fade 0.25s ease-out;
  }
  .tile.speaking {
    box-shadow:
      0 0 0 3px var(--_accent),
      0 0 28px color-mix(in srgb, var(--_accent) 45%, transparent);
  }
  .tile video {
    position: absolute;
    inset: 0;
    width: 100%;
    height: 100%;
    object-fit: cover;
    background: var(--_bg2);
  }
  .tile.me video {
    transform: scaleX(-1);
  }
  .tile .cover {
    position: absolute;
    inset: 0;
    display: flex;
    flex-direction: column;
    align-items: center;
    justify-content: center;
    gap: min(7cqh, 20px);
    background:
      radial-gradient(70% 80% at 50% 35%, color-mix(in srgb, var(--_peer) 30%, transparent), transparent), var(--_bg2);
  }
  .tile .avatar {
    width: min(36cqh, 120px);
    height: min(36cqh, 120px);
    font-size: min(14cqh, 44px);
    box-shadow: 0 0 0 min(1.6cqh, 5px) color-mix(in srgb, var(--_fg) 8%, transparent);
  }
  .tile .avatar.pulsing {
    animation: pulse 1.6s ease-out infinite;
  }
  .tile.away .avatar {
    filter: grayscale(0.7);
    opacity: 0.6;
  }
  .tile-state {
    padding: 3px 12px;
    border-radius: 999px;
    font-size: clamp(11px, 6.5cqh, 15px);
    font-weight: 500;
    color: var(--_muted);
    background: color-mix(in srgb, var(--_bg) 45%, transparent);
  }
  .tile-state.rejected,
  .tile-state.busy,
  .tile-state.missed,
  .tile-state.canceled {
    color: color-mix(in srgb, var(--_danger) 55%, var(--_fg));
  }
  .tile .label {
    position: absolute;
    left: 8px;
    bottom: 8px;
    max-width: calc(100% - 16px);
    display: flex;
    align-items: center;
    gap: 6px;
    padding: 4px 10px;
    border-radius: 999px;
    font-size: clamp(10px, 6cqh, 13px);
    font-weight: 500;
    background: color-mix(in srgb, var(--_bg) 62%, transparent);
    backdrop-filter: blur(6px);
  }
  .tile .label:has(.mic-off) {
    padding-left: 4px;
  }
  .who-name {
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .mic-off {
    flex: none;
    display: grid;
    place-items: center;
    width: 20px;
    height: 20px;
    border-radius: 50%;
    background: var(--_danger);
  }
  .mic-off svg {
    width: 13px;
    height: 13px;
  }

  /* ---- the invite sheet ---- */
  .scrim {
    position: absolute;
    inset: 0;
    z-index: 5;
    background: color-mix(in srgb, var(--_bg) 60%, transparent);
    animation: fade 0.18s ease-out;
  }
  .sheet.invite {
    width: min(100%, 460px);
    margin-inline: auto;
    background: var(--_bg2);
    box-shadow: 0 -10px 40px color-mix(in srgb, var(--_bg) 70%, transparent);
  }
  @media (min-width: 521px) {
    .sheet.invite {
      bottom: 24px;
      border-radius: 20px;
      padding-bottom: 20px;
    }
  }
  .people {
    list-style: none;
    margin: 0;
    padding: 0;
    display: grid;
    gap: 2px;
    max-height: min(45dvh, 340px);
    overflow: auto;
  }
  .people.loading {
    height: 112px;
    border-radius: 12px;
    background: linear-gradient(90deg, var(--_control), transparent, var(--_control));
  }
  .sheet label.person {
    position: relative;
    display: flex;
    align-items: center;
    gap: 12px;
    padding: 8px 10px;
    border-radius: 12px;
    font-size: 15px;
    color: var(--_fg);
    cursor: pointer;
  }
  .person:hover,
  .person.ticked {
    background: color-mix(in srgb, var(--_fg) 8%, transparent);
  }
  .person:has(input:focus-visible) {
    outline: 3px solid color-mix(in srgb, var(--_accent) 80%, white);
  }
  .person input {
    position: absolute;
    inset: 0;
    margin: 0;
    opacity: 0;
    cursor: pointer;
  }
  .person .avatar {
    width: 40px;
    height: 40px;
    font-size: 15px;
    box-shadow: none;
  }
  .person-name {
    flex: 1;
    min-width: 0;
    overflow: hidden;
    text-overflow: ellipsis;
    white-space: nowrap;
  }
  .tick {
    flex: none;
    display: grid;
    place-items: center;
    width: 24px;
    height: 24px;
    border-radius: 50%;
    border: 2px solid var(--_muted);
    color: transparent;
  }
  .ticked .tick {
    border-color: var(--_accent);
    background: var(--_accent);
    color: var(--_fg);
  }
  .tick svg {
    width: 15px;
    height: 15px;
  }
  .none {
    margin: 0;
    padding: 12px 0;
    text-align: center;
    font-size: 14px;
    color: var(--_muted);
  }
  .pill.send {
    display: inline-flex;
    align-items: center;
    justify-content: center;
    gap: 8px;
    padding: 12px 18px;
    font-size: 15px;
    background: var(--_accent);
  }
  .pill.send:disabled {
    opacity: 0.5;
    cursor: default;
  }
  .pill.send svg {
    width: 20px;
    height: 20px;
  }
`
