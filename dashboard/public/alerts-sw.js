// Tidewatch alerts service worker: shows each Web Push alert and opens its link when clicked.
self.addEventListener("push", (event) => {
  const alert = event.data ? event.data.json() : { title: "Tidewatch alert", body: "" };
  event.waitUntil(
    self.registration.showNotification(alert.title, {
      body: alert.body,
      data: { url: alert.url },
      requireInteraction: alert.severity === "critical",
      tag: alert.url || undefined,
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = event.notification.data && event.notification.data.url;
  if (url) event.waitUntil(self.clients.openWindow(url));
});
