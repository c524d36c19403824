import { useEffect, useState } from "react";
import { useApp } from "../AppContext";
import { Empty, ErrorBanner, Loading } from "../components/States";
import { formatDateTime } from "../format";
import { notificationText } from "../live/socket";

export function Notifications() {
  const { api, notifications, setNotifications, liveStatus } = useApp();
  const [state, setState] = useState<{ loading: boolean; error: unknown }>({ loading: true, error: null });
  const [tick, setTick] = useState(0);

  useEffect(() => {
    let alive = true;
    setState({ loading: true, error: null });
    api.listNotifications().then(
      (items) => {
        if (!alive) return;
        setNotifications(items);
        setState({ loading: false, error: null });
      },
      (error) => alive && setState({ loading: false, error }),
    );
    return () => {
      alive = false;
    };
  }, [api, setNotifications, tick]);

  return (
    <section>
      <h1>Notifications</h1>
      <p className="muted">
        Live updates: {liveStatus === "open" ? "connected" : liveStatus}. New notifications appear here and as a toast.
      </p>
      {state.error != null && <ErrorBanner error={state.error} onRetry={() => setTick((t) => t + 1)} />}
      {state.loading && !notifications.length ? (
        <Loading label="Loading notifications…" />
      ) : notifications.length === 0 ? (
        !state.error && <Empty title="No notifications yet">Rules you create will notify you here.</Empty>
      ) : (
        <ul className="notifications" aria-live="polite" data-testid="notification-list">
          {notifications.map((n) => (
            <li key={n.id} className={n.read_at ? "read" : "unread"}>
              <strong>{n.title}</strong>
              {notificationText(n.body) && <p>{notificationText(n.body)}</p>}
              <p className="muted">{formatDateTime(n.created_at)}</p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
