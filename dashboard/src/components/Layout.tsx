import { NavLink, Outlet } from "react-router";
import { useApp } from "../AppContext";
import { shortAddress } from "../format";
import { Toasts } from "./Toasts";

const PUBLIC_LINKS = [
  ["/markets", "Markets"],
  ["/address", "Address"],
] as const;

const SESSION_LINKS = [
  ["/portfolios", "Portfolios"],
  ["/markets", "Markets"],
  ["/address", "Address"],
  ["/rules", "Rules"],
  ["/transactions", "Transactions"],
  ["/notifications", "Notifications"],
  ["/billing", "Billing"],
] as const;

const LIVE_LABEL = { idle: "Offline", connecting: "Connecting", open: "Live", reconnecting: "Reconnecting", closed: "Offline" };

export function Layout() {
  const { address, signOut, liveStatus, notifications } = useApp();
  const unread = notifications.filter((n) => !n.read_at).length;
  return (
    <>
      <a href="#main" className="skip-link">
        Skip to content
      </a>
      <header className="topbar">
        <NavLink to="/" className="brand">
          Tidewatch
        </NavLink>
        <nav aria-label="Main">
          <ul>
            {(address ? SESSION_LINKS : PUBLIC_LINKS).map(([to, label]) => (
              <li key={to}>
                <NavLink to={to}>
                  {label}
                  {to === "/notifications" && unread > 0 && <span className="badge" aria-label={`${unread} unread`}>{unread}</span>}
                </NavLink>
              </li>
            ))}
          </ul>
        </nav>
        <div className="session">
          <span className={`live live-${liveStatus}`} title="Live updates" data-testid="live-status">
            <span className="dot" aria-hidden="true" /> {LIVE_LABEL[liveStatus]}
          </span>
          {!address && (
            <NavLink to="/signin" className="button primary">
              Sign in
            </NavLink>
          )}
          {address && (
            <>
              <span className="address" title={address}>
                {shortAddress(address)}
              </span>
              <button type="button" onClick={() => void signOut()}>
                Sign out
              </button>
            </>
          )}
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
      <Toasts />
    </>
  );
}
