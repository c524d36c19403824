import { useState } from "react";
import { useLocation, useNavigate } from "react-router";
import { useApp } from "../AppContext";
import { dashboardSiweMessage } from "../auth/siwe";
import { toChecksumAddress } from "../wallet/address";
import { chainId, injectedProvider, personalSign, requestAccount, walletErrorMessage } from "../wallet/eip1193";
import { ApiError } from "../api/problem";

type Step = "idle" | "connecting" | "signing" | "verifying";

const STEP_LABEL: Record<Step, string> = {
  idle: "",
  connecting: "Waiting for your wallet to connect…",
  signing: "Sign the message in your wallet…",
  verifying: "Verifying the signature…",
};

export function SignIn() {
  const { api, signedIn, config } = useApp();
  const navigate = useNavigate();
  const location = useLocation();
  const [step, setStep] = useState<Step>("idle");
  const [error, setError] = useState<string | null>(null);
  const provider = injectedProvider();

  async function signInInjected() {
    if (!provider) return;
    setError(null);
    try {
      setStep("connecting");
      const address = toChecksumAddress(await requestAccount(provider));
      const chain = await chainId(provider);
      const { nonce } = await api.getNonce();
      const message = dashboardSiweMessage({ location: window.location, address, chainId: chain, nonce });
      setStep("signing");
      const signature = await personalSign(provider, message, address);
      setStep("verifying");
      const session = await api.verify(message, signature, address);
      signedIn(session.address || address);
      const from = (location.state as { from?: string } | null)?.from;
      navigate(from && from !== "/signin" ? from : "/portfolios", { replace: true });
    } catch (err) {
      setError(err instanceof ApiError ? err.userMessage : walletErrorMessage(err));
    } finally {
      setStep("idle");
    }
  }

  return (
    <div className="signin">
      <h1>Sign in to Tidewatch</h1>
      <p>
        Track yield and liquidation risk across Aave, Compound and EigenLayer on Ethereum and Base. Tidewatch never holds
        your keys: you sign a message to prove you own your address.
      </p>
      <div className="signin-options">
        <button type="button" className="primary" onClick={() => void signInInjected()} disabled={!provider || step !== "idle"}>
          {provider ? "Sign in with browser wallet" : "No browser wallet detected"}
        </button>
        <button type="button" disabled aria-describedby="wc-note">
          WalletConnect
        </button>
        <p id="wc-note" className="muted">
          {config.walletConnectProjectId
            ? "WalletConnect is configured but its connector is not bundled in this build; use a browser wallet."
            : "WalletConnect is unavailable: no project id is configured (walletConnectProjectId in config.json)."}
        </p>
      </div>
      {!provider && (
        <p className="muted">
          Install an EIP-1193 wallet such as MetaMask, or open this page in your wallet's browser.
        </p>
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
