import { css } from 'lit'

export const demoStyles = css`
  :host {
    --accent: #2563eb;
    --accent-soft: #eff6ff;
    --text: #0f172a;
    --sub: #64748b;
    --line: #e2e8f0;
    --bg: #f1f5f9;
    --card: #fff;
    --danger: #dc2626;
    display: block;
    min-height: 100dvh;
    background: var(--bg);
    color: var(--text);
    font-family:
      system-ui,
      -apple-system,
      'Segoe UI',
      Roboto,
      'PingFang SC',
      'Hiragino Sans GB',
      'Microsoft YaHei',
      sans-serif;
    font-size: 15px;
    -webkit-font-smoothing: antialiased;
  }
  * {
    box-sizing: border-box;
  }
  h1,
  h2,
  p {
    margin: 0;
  }
  button,
  input,
  select {
    font: inherit;
  }
  button {
    cursor: pointer;
  }
  :focus-visible {
    outline: 3px solid color-mix(in srgb, var(--accent) 45%, transparent);
    outline-offset: 2px;
  }
  .splash {
    min-height: 100dvh;
  }
  .logo {
    display: inline-grid;
    place-items: center;
    width: 34px;
    height: 34px;
    border-radius: 10px;
    color: #fff;
    background: linear-gradient(135deg, #3b82f6, #6366f1);
    box-shadow: 0 4px 12px rgba(59, 130, 246, 0.35);
  }
  .logo svg {
    width: 19px;
    height: 19px;
  }
  .brand {
    display: flex;
    align-items: center;
    gap: 10px;
    font-weight: 700;
    font-size: 17px;
  }
  .brand.big {
    font-size: 20px;
    justify-content: center;
  }
  .card {
    background: var(--card);
    border-radius: 16px;
    box-shadow:
      0 1px 2px rgba(15, 23, 42, 0.06),
      0 4px 16px rgba(15, 23, 42, 0.04);
  }
  /* ---- sign in / sign up ---- */
  .auth {
    min-height: 100dvh;
    display: grid;
    place-items: center;
    padding: 24px 16px;
    background:
      radial-gradient(60% 50% at 20% 0%, #dbeafe, transparent),
      radial-gradient(50% 40% at 100% 100%, #e0e7ff, transparent), var(--bg);
  }
  .auth-top {
    position: fixed;
    top: 16px;
    right: 16px;
  }
  .auth-card {
    width: min(100%, 400px);
    padding: 32px 28px;
    display: grid;
    gap: 16px;
  }
  .auth-card h1 {
    font-size: 22px;
    margin-top: 8px;
  }
  .tagline {
    text-align: center;
    color: var(--sub);
    font-size: 14px;
  }
  label {
    display: grid;
    gap: 6px;
    font-size: 13px;
    font-weight: 600;
    color: #334155;
  }
  input,
  select {
    width: 100%;
    padding: 11px 14px;
    border: 1px solid var(--line);
    border-radius: 12px;
    background: #fff;
    color: var(--text);
    font-weight: 400;
    font-size: 15px;
  }
  input:focus,
  select:focus {
    border-color: var(--accent);
    outline: none;
    box-shadow: 0 0 0 3px color-mix(in srgb, var(--accent) 20%, transparent);
  }
  .lang {
    width: auto;
    padding: 8px 12px;
  }
  .primary,
  .secondary {
    border: 0;
    border-radius: 12px;
    padding: 12px 16px;
    font-weight: 600;
  }
  .primary {
    background: var(--accent);
    color: #fff;
  }
  .primary:disabled {
    opacity: 0.6;
  }
  .secondary {
    background: var(--accent-soft);
    color: var(--accent);
  }
  .secondary.danger {
    background: #fef2f2;
    color: var(--danger);
  }
  .error {
    color: var(--danger);
    background: #fef2f2;
    padding: 10px 12px;
    border-radius: 10px;
    font-size: 14px;
  }
  .switch {
    text-align: center;
    color: var(--sub);
    font-size: 14px;
  }
  .link {
    border: 0;
    background: none;
    color: var(--accent);
    font-weight: 600;
    padding: 0 2px;
  }
  /* ---- app shell: sidebar on desktop, top bar and tab bar on phones ---- */
  .app {
    min-height: 100dvh;
    display: grid;
    grid-template-columns: 248px 1fr;
  }
  .sidebar {
    position: sticky;
    top: 0;
    height: 100dvh;
    display: flex;
    flex-direction: column;
    gap: 28px;
    padding: 24px 16px;
    background: var(--card);
    border-right: 1px solid var(--line);
  }
  .sidebar nav {
    display: grid;
    gap: 4px;
  }
  .nav-item {
    display: flex;
    align-items: center;
    gap: 12px;
    padding: 10px 12px;
    border-radius: 10px;
    color: #334155;
    text-decoration: none;
    font-weight: 500;
  }
  .nav-item:hover {
    background: var(--bg);
  }
  .nav-item.active {
    background: var(--accent-soft);
    color: var(--accent);
  }
  .me {
    margin-top: auto;
    display: flex;
    align-items: center;
    gap: 10px;
    padding: 10px;
    border-radius: 12px;
    background: var(--bg);
  }
  .me-text {
    display: grid;
    min-width: 0;
  }
  .me-text small {
    display: flex;
    align-items: center;
    gap: 6px;
    color: var(--sub);
  }
  .status-dot {
    width: 8px;
    height: 8px;
    border-radius: 50%;
    background: #f59e0b;
    flex: none;
  }
  .status-dot.online {
    background: #22c55e;
  }
  .status-dot.offline {
    background: var(--danger);
  }
  .topbar,
  .tabbar {
    display: none;
  }
  .content {
    width: min(100%, 760px);
    padding: 36px 32px 48px;
    display: grid;
    align-content: start;
    gap: 18px;
  }
  .page-title {
    font-size: 26px;
  }
  @media (max-width: 760px) {
    /* Keep the call kit's floating window and toasts above the tab bar. */
    ringkit-call {
      --ringkit-mini-bottom: 88px;
      --ringkit-toast-bottom: 92px;
    }
    .app {
      grid-template-columns: 1fr;
      grid-template-rows: auto 1fr auto;
    }
    .sidebar,
    .page-title {
      display: none;
    }
    .topbar {
      position: sticky;
      top: 0;
      z-index: 2;
      display: flex;
      align-items: center;
      justify-content: space-between;
      padding: 14px 16px;
      background: rgba(255, 255, 255, 0.92);
      backdrop-filter: blur(8px);
      border-bottom: 1px solid var(--line);
    }
    .content {
      padding: 16px 14px 96px;
    }
    .group-call span {
      display: none;
    }
    .tabbar {
      position: fixed;
      inset: auto 0 0 0;
      z-index: 2;
      display: grid;
      grid-template-columns: repeat(3, 1fr);
      padding: 6px 8px max(10px, env(safe-area-inset-bottom));
      background: rgba(255, 255, 255, 0.96);
      border-top: 1px solid var(--line);
    }
    .tabbar .nav-item {
      flex-direction: column;
      gap: 3px;
      font-size: 12px;
      padding: 6px;
    }
    .tabbar .nav-item.active {
      background: none;
    }
  }
  /* ---- lists ---- */
  .toolbar {
    display: flex;
    gap: 10px;
  }
  .search {
    flex: 1;
  }
  .with-icon {
    display: inline-flex;
    align-items: center;
    justify-content: center;
    gap: 8px;
    white-space: nowrap;
  }
  .with-icon svg {
    width: 19px;
    height: 19px;
  }
  .group-call {
    border-radius: 14px;
  }
  .pickable {
    padding: 0;
  }
  .pickable label {
    position: relative;
    flex: 1;
    display: flex;
    align-items: center;
    gap: 12px;
    padding: 10px 16px;
    font-size: 15px;
    font-weight: 400;
    color: var(--text);
    cursor: pointer;
  }
  .pickable label:hover,
  .pickable.ticked label {
    background: var(--accent-soft);
  }
  .pickable input {
    position: absolute;
    inset: 0;
    width: 100%;
    height: 100%;
    margin: 0;
    opacity: 0;
    cursor: pointer;
  }
  .pickable label:has(input:focus-visible) {
    outline: 3px solid color-mix(in srgb, var(--accent) 45%, transparent);
    outline-offset: -3px;
  }
  .check {
    flex: none;
    display: grid;
    place-items: center;
    width: 26px;
    height: 26px;
    border-radius: 50%;
    border: 2px solid #cbd5e1;
    color: transparent;
  }
  .ticked .check {
    border-color: var(--accent);
    background: var(--accent);
    color: #fff;
  }
  .check svg {
    width: 16px;
    height: 16px;
  }
  .pick-bar {
    position: sticky;
    bottom: 16px;
    z-index: 1;
    display: flex;
    align-items: center;
    justify-content: space-between;
    gap: 12px 16px;
    flex-wrap: wrap;
    padding: 12px 14px 12px 16px;
    box-shadow:
      0 1px 2px rgba(15, 23, 42, 0.08),
      0 12px 32px rgba(15, 23, 42, 0.14);
    animation: rise 0.18s ease-out;
  }
  /* Phones: above the tab bar. After the rule above, which would win otherwise. */
  @media (max-width: 760px) {
    .pick-bar {
      bottom: 84px;
    }
  }
  @keyframes rise {
    from {
      transform: translateY(12px);
      opacity: 0;
    }
  }
  .picked {
    flex: 1 1 220px;
    display: flex;
    align-items: center;
    gap: 12px;
    min-width: 0;
  }
  .picked > span:last-child {
    display: grid;
    min-width: 0;
  }
  .picked small {
    color: var(--sub);
    font-size: 13px;
    white-space: nowrap;
    overflow: hidden;
    text-overflow: ellipsis;
  }
  .faces {
    display: flex;
    flex: none;
  }
  .faces:empty {
    display: none;
  }
  .faces .avatar + .avatar {
    margin-left: -8px;
  }
  .faces .avatar {
    box-shadow: 0 0 0 2px var(--card);
  }
  .faces.stacked {
    width: 44px;
    height: 44px;
    position: relative;
  }
  .faces.stacked .avatar {
    position: absolute;
    top: 0;
    left: 0;
  }
  .faces.stacked .avatar + .avatar {
    top: 16px;
    left: 16px;
    margin: 0;
  }
  .pick-actions {
    display: flex;
    gap: 8px;
    margin-left: auto;
  }
  .pick-actions button {
    padding: 10px 14px;
  }
  .search input {
    padding: 12px 16px;
    border-radius: 14px;
    background: var(--card);
  }
  .list {
    list-style: none;
    margin: 0;
    padding: 6px 0;
  }
  .list.loading {
    height: 180px;
    background: linear-gradient(90deg, #fff, #f8fafc, #fff);
  }
  .row {
    display: flex;
    align-items: center;
    gap: 12px;
    padding: 10px 16px;
  }
  .row + .row {
    border-top: 1px solid #f1f5f9;
  }
  .row.plain {
    padding: 0;
  }
  .avatar {
    flex: none;
    display: inline-grid;
    place-items: center;
    border-radius: 50%;
    color: #fff;
    font-weight: 600;
  }
  .row-text {
    flex: 1;
    display: grid;
    gap: 2px;
    min-width: 0;
  }
  .row-text strong {
    white-space: nowrap;
    overflow: hidden;
    text-overflow: ellipsis;
  }
  .row-text small {
    display: flex;
    align-items: center;
    gap: 6px;
    color: var(--sub);
    font-size: 13px;
  }
  .row-text small svg {
    width: 15px;
    height: 15px;
  }
  .kind {
    display: inline-grid;
  }
  .missed .row-text strong,
  .missed .wording {
    color: var(--danger);
  }
  .dir {
    font-weight: 700;
  }
  .dir.outgoing {
    color: #16a34a;
  }
  .dir.incoming {
    color: var(--accent);
  }
  .dir.missed {
    color: var(--danger);
  }
  time {
    color: var(--sub);
    font-size: 13px;
    white-space: nowrap;
  }
  .round {
    flex: none;
    width: 40px;
    height: 40px;
    border: 0;
    border-radius: 50%;
    display: grid;
    place-items: center;
    color: var(--accent);
    background: var(--accent-soft);
  }
  .round:hover {
    background: #dbeafe;
  }
  .round svg {
    width: 20px;
    height: 20px;
  }
  .empty {
    padding: 36px 20px;
    text-align: center;
    color: var(--sub);
    background: var(--card);
    border-radius: 16px;
    line-height: 1.5;
  }
  .more {
    justify-self: center;
  }
  .settings {
    padding: 20px;
    display: grid;
    gap: 14px;
  }
  .settings h2 {
    font-size: 16px;
  }
  .settings .lang {
    width: 100%;
  }
`
