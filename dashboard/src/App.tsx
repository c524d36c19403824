import { useState } from "react";
import { Navigate, Outlet, RouterProvider, createHashRouter, useLocation } from "react-router";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { WagmiProvider, type Config } from "wagmi";
import { createWagmiConfig } from "./wallet/wagmi";
import { AddressView } from "./pages/AddressView";
import { AppProvider, useApp } from "./AppContext";
import type { SessionStore } from "./auth/tokens";
import type { AppConfig } from "./config";
import type { SocketLike } from "./live/socket";
import { Layout } from "./components/Layout";
import { AlertSettings } from "./pages/AlertSettings";
import { Billing } from "./pages/Billing";
import { MarketView, Markets } from "./pages/Markets";
import { Notifications } from "./pages/Notifications";
import { PortfolioView } from "./pages/PortfolioView";
import { Portfolios } from "./pages/Portfolios";
import { NewRule } from "./pages/RuleForm";
import { RuleDetail, Rules } from "./pages/Rules";
import { SignIn } from "./pages/SignIn";
import { Transactions } from "./pages/Transactions";

function RequireSession() {
  const { address } = useApp();
  const location = useLocation();
  if (!address) return <Navigate to="/signin" replace state={{ from: location.pathname + location.search }} />;
  return <Outlet />;
}

function Home() {
  const { address } = useApp();
  return <Navigate to={address ? "/portfolios" : "/markets"} replace />;
}

function SignInRoute() {
  const { address } = useApp();
  return address ? <Navigate to="/portfolios" replace /> : <SignIn />;
}

// Hash routing: static hosting needs no rewrite rules for deep links, and the app works under any
// path. Path deep links (Stripe's return URL) are moved into the hash in main.tsx.
const routes = [
  {
    element: <Layout />,
    children: [
      { path: "/signin", element: <SignInRoute /> },
      // Public: market data and any address's positions are read without signing in.
      { index: true, element: <Home /> },
      { path: "/markets", element: <Markets /> },
      { path: "/markets/:id", element: <MarketView /> },
      { path: "/address", element: <AddressView /> },
      { path: "/address/:address", element: <AddressView /> },
      {
        element: <RequireSession />,
        children: [
          { path: "/portfolios", element: <Portfolios /> },
          { path: "/portfolios/:id", element: <PortfolioView /> },
          { path: "/rules", element: <Rules /> },
          { path: "/rules/new", element: <NewRule /> },
          { path: "/rules/:id", element: <RuleDetail /> },
          { path: "/transactions", element: <Transactions /> },
          { path: "/notifications", element: <Notifications /> },
          { path: "/settings/notifications", element: <AlertSettings /> },
          { path: "/billing", element: <Billing /> },
          { path: "*", element: <Navigate to="/portfolios" replace /> },
        ],
      },
    ],
  },
];

export function App(props: {
  config: AppConfig;
  store?: SessionStore;
  fetchImpl?: typeof fetch;
  createSocket?: (url: string) => SocketLike;
  wagmiConfig?: Config;
}) {
  // Created on first render, after main.tsx has settled the URL (and fresh for each test render).
  const [router] = useState(() => createHashRouter(routes));
  const [wagmiConfig] = useState(() => props.wagmiConfig ?? createWagmiConfig());
  const [queryClient] = useState(() => new QueryClient());
  return (
    <WagmiProvider config={wagmiConfig}>
      <QueryClientProvider client={queryClient}>
        <AppProvider config={props.config} store={props.store} fetchImpl={props.fetchImpl} createSocket={props.createSocket}>
          <RouterProvider router={router} />
        </AppProvider>
      </QueryClientProvider>
    </WagmiProvider>
  );
}
