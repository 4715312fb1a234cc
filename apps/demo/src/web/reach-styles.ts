import { css } from 'lit'

/** The missed-call badge on History, and the "Ring me when closed" switch in Settings. */
export const reachStyles = css`
  .nav-item {
    position: relative;
  }
  .badge {
    min-width: 20px;
    height: 20px;
    padding: 0 6px;
    margin-left: auto;
    border-radius: 10px;
    background: var(--danger);
    color: #fff;
    font-size: 12px;
    font-weight: 600;
    line-height: 20px;
    text-align: center;
  }
  .tabbar .badge {
    position: absolute;
    top: 2px;
    left: calc(50% + 6px);
    margin: 0;
  }
  .switch-row {
    display: flex;
    align-items: center;
    justify-content: space-between;
    gap: 16px;
    font-size: 16px;
    font-weight: 600;
    cursor: pointer;
  }
  .switch {
    appearance: none;
    flex: none;
    position: relative;
    width: 46px;
    height: 28px;
    margin: 0;
    border-radius: 14px;
    background: #cbd5e1;
    cursor: pointer;
    transition: background 0.15s;
  }
  .switch::after {
    content: '';
    position: absolute;
    top: 3px;
    left: 3px;
    width: 22px;
    height: 22px;
    border-radius: 50%;
    background: #fff;
    box-shadow: 0 1px 3px rgba(15, 23, 42, 0.3);
    transition: transform 0.15s;
  }
  .switch:checked {
    background: var(--accent);
  }
  .switch:checked::after {
    transform: translateX(18px);
  }
  .switch:disabled {
    opacity: 0.5;
    cursor: default;
  }
  .note {
    margin: 0;
    color: #64748b;
    font-size: 14px;
  }
  .note.warn {
    padding: 10px 12px;
    border-radius: 10px;
    background: #fef2f2;
    color: #b91c1c;
  }
`
