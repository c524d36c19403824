import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App } from "./App";
import { loadConfig } from "./config";
import { hashUrlForPath } from "./routing";
import "./styles.css";

const moved = hashUrlForPath(window.location);
if (moved) window.history.replaceState(null, "", moved);

const root = createRoot(document.getElementById("root")!);

loadConfig().then(
  (config) =>
    root.render(
      <StrictMode>
        <App config={config} />
      </StrictMode>,
    ),
  (err: unknown) =>
    root.render(
      <div className="state state-error" role="alert">
        Tidewatch could not load its configuration (config.json): {String(err)}
      </div>,
    ),
);
