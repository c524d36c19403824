import { useEffect, useState } from "react";
import { useLocation, useNavigate } from "react-router";
import { useConfig, useConnectors, type Connector } from "wagmi";
import { connect, disconnect, getConnection, signMessage, switchChain } from "wagmi/actions";
import type { CreateConnectorFn } from "wagmi";
import { useApp } from "../AppContext";
import { ApiError } from "../api/problem";
import { dashboardSiweMessage, isSiweMessageFor } from "../auth/siwe";
import { toChecksumAddress } from "../wallet/address";
import { walletErrorMessage } from "../wallet/errors";
import { CHAINS, walletConnectConnector } from "../wallet/wagmi";
import { chainName } from "../format";

type Step = "idle" | "connecting" | "switching" | "signing" | "verifying";

const STEP_LABEL: Record<Step, string> = {
  idle: "",
  connecting: "Waiting for your wallet to connect…",
  switching: "Switch your wallet to Ethereum or Base…",
  signing: "Sign the message in your wallet…",
  verifying: "Verifying the signature…",
};

const SUPPORTED = new Set<number>(CHAINS.map((c) => c.id));

/** The wallet stayed on a chain Tidewatch does not sign in on; its message says what to do. */
class WrongChain extends Error {}

interface DevAccount {
  label: string;
  address: string;
}

/** Discovered EIP-6963 wallets by name; the plain injected one only when none announced itself. */
export function walletChoices(connectors: readonly Connector[]): Connector[] {
  const announced = connectors.filter((c) => c.type === "injected" && c.id !== "injected");
  return announced.length ? announced : connectors.filter((c) => c.id === "injected");
}

function walletLabel(c: Connector): string {
  return c.id === "injected" ? "browser wallet" : c.name;
}

export function SignIn() {
  const { api, signedIn, config, sessionExpired } = useApp();
  const wagmi = useConfig();
  const connectors = useConnectors();
  const navigate = useNavigate();
  const location = useLocation();
  const [step, setStep] = useState<Step>("idle");
  const [error, setError] = useState<string | null>(null);
  const [devAccounts, setDevAccounts] = useState<DevAccount[]>([]);
  const [hasInjected] = useState(() => typeof window !== "undefined" && "ethereum" in window && Boolean((window as { ethereum?: unknown }).ethereum));
  const choices = walletChoices(connectors).filter((c) => c.id !== "injected" || hasInjected);

  useEffect(() => {
    if (!config.devSignIn) return;
    let cancelled = false;
    fetch(new URL("local/dev-accounts", document.baseURI), { cache: "no-store" })
      .then((r) => (r.ok ? (r.json() as Promise<{ accounts: DevAccount[] }>) : { accounts: [] }))
      .then((body) => !cancelled && setDevAccounts(body.accounts ?? []))
      .catch(() => undefined);
    return () => {
      cancelled = true;
    };
  }, [config.devSignIn]);

  function landed(address: string) {
    signedIn(address);
    const from = (location.state as { from?: string } | null)?.from;
    navigate(from && from !== "/signin" ? from : "/portfolios", { replace: true });
  }

  /** Connect → (switch to a supported chain) → sign the EIP-4361 message → verify with the API. */
  async function signInWith(connector: Connector | CreateConnectorFn) {
    setError(null);
    try {
      setStep("connecting");
      if (getConnection(wagmi).status === "connected") await disconnect(wagmi);
      const connected = await connect(wagmi, { connector });
      const address = toChecksumAddress(connected.accounts[0]);
      let chainId = connected.chainId;
      if (!SUPPORTED.has(chainId)) {
        setStep("switching");
        try {
          chainId = (await switchChain(wagmi, { chainId: CHAINS[0].id })).id;
        } catch (err) {
          throw new WrongChain(
            `Your wallet is on ${chainName(chainId)}; Tidewatch signs in on Ethereum or Base. Switch networks in your wallet and try again. (${walletErrorMessage(err)})`,
            { cause: err },
          );
        }
      }
      const { nonce } = await api.getNonce();
      const message = dashboardSiweMessage({ location: window.location, address, chainId, nonce });
      setStep("signing");
      const signature = await signMessage(wagmi, { account: address, message });
      setStep("verifying");
      const session = await api.verify(message, signature, address);
      landed(session.address || address);
    } catch (err) {
      setError(err instanceof ApiError ? err.userMessage : err instanceof WrongChain ? err.message : walletErrorMessage(err));
    } finally {
      setStep("idle");
    }
  }

  async function signInWalletConnect() {
    setError(null);
    setStep("connecting");
    let connector: CreateConnectorFn;
    try {
      connector = await walletConnectConnector(config.walletConnectProjectId, window.location.origin);
    } catch (err) {
      setStep("idle");
      setError(`WalletConnect could not load: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    await signInWith(connector);
  }

  /** The local run only: the devnet's seeded key signs this page's real EIP-4361 message locally. */
  async function signInAsDevAccount(account: DevAccount) {
    setError(null);
    try {
      setStep("signing");
      const { nonce } = await api.getNonce();
      const message = dashboardSiweMessage({ location: window.location, address: account.address, chainId: CHAINS[0].id, nonce });
      if (!isSiweMessageFor(message, { host: window.location.host, address: account.address })) throw new Error("The sign-in message is malformed.");
      const response = await fetch(new URL("local/dev-sign", document.baseURI), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ label: account.label, message }),
      });
      const body = (await response.json().catch(() => ({}))) as { signature?: string; detail?: string };
      if (!response.ok || !body.signature) throw new Error(body.detail ?? `The local signer answered ${response.status}.`);
      setStep("verifying");
      const session = await api.verify(message, body.signature, account.address);
      landed(session.address || account.address);
    } catch (err) {
      setError(err instanceof ApiError ? err.userMessage : err instanceof Error ? err.message : String(err));
    } finally {
      setStep("idle");
    }
  }

  const busy = step !== "idle";
  return (
    <div className="signin">
      <h1>Sign in to Tidewatch</h1>
      <p>
        Track yield and liquidation risk across Aave, Compound and EigenLayer on Ethereum and Base. Tidewatch never holds
        your keys: you sign a message to prove you own your address. Markets and any address's positions need no
        sign-in; signing in keeps your portfolios, rules, alerts and transactions.
      </p>
      {sessionExpired && (
        <p className="state state-warning" role="status">
          Your session expired. Sign in again to continue.
        </p>
      )}
      <div className="signin-options">
        {choices.map((c) => (
          <button key={c.uid} type="button" className="primary wallet-option" onClick={() => void signInWith(c)} disabled={busy}>
            {c.icon && <img src={c.icon} alt="" width={20} height={20} />}
            Sign in with {walletLabel(c)}
          </button>
        ))}
        {!choices.length && (
          <p className="muted" data-testid="no-wallet">
            No browser wallet detected. Install one such as MetaMask or Rabby, open this page in your wallet's browser,
            or use WalletConnect with a phone wallet.
          </p>
        )}
        <button type="button" onClick={() => void signInWalletConnect()} disabled={busy || !config.walletConnectProjectId} aria-describedby="wc-note">
          WalletConnect
        </button>
        <p id="wc-note" className="muted">
          {config.walletConnectProjectId
            ? "Scan the QR code with a phone wallet (needs the WalletConnect relay, so internet access)."
            : "WalletConnect is unavailable: no project id is configured (walletConnectProjectId in config.json)."}
        </p>
      </div>
      {devAccounts.length > 0 && (
        <section className="panel dev-accounts" aria-labelledby="dev-accounts-title">
          <h2 id="dev-accounts-title">Local devnet accounts</h2>
          <p className="muted">
            This is the local run: its seeded accounts sign in with one click (their keys stay on this machine; a deployed
            Tidewatch never offers this).
          </p>
          <ul className="plain">
            {devAccounts.map((a) => (
              <li key={a.label}>
                <button type="button" onClick={() => void signInAsDevAccount(a)} disabled={busy}>
                  Sign in as {a.label}
                </button>{" "}
                <code className="muted">{a.address}</code>
              </li>
            ))}
          </ul>
        </section>
      )}
      <p role="status" aria-live="polite">
        {STEP_LABEL[step]}
      </p>
      {error && (
        <p className="state state-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
