/**
 * Wallet connections through wagmi: every EIP-6963 browser wallet is discovered and listed by its
 * own name and icon; a plain `window.ethereum` is offered as "Browser wallet" when no wallet
 * announces itself. WalletConnect is not among the start-up connectors: its SDK (and the relay
 * connection it opens) loads only when the user picks it (`walletConnectConnector`).
 */
import { createConfig, http, type Config, type CreateConnectorFn } from "wagmi";
import { base, mainnet } from "wagmi/chains";
import { injected } from "wagmi/connectors/injected";

export const CHAINS = [mainnet, base] as const;
export type SupportedChainId = (typeof CHAINS)[number]["id"];

export function createWagmiConfig(options: { connectors?: CreateConnectorFn[] } = {}): Config {
  return createConfig({
    chains: CHAINS,
    connectors: options.connectors ?? [injected({ shimDisconnect: true })],
    multiInjectedProviderDiscovery: true,
    // The wallet answers signing and chain requests itself; wagmi reads nothing over these.
    transports: { [mainnet.id]: http(), [base.id]: http() },
  });
}

/** The app's name and page as a WalletConnect pairing shows them. */
export function walletConnectMetadata(origin: string) {
  return { name: "Tidewatch", description: "DeFi yield and liquidation risk", url: origin, icons: [`${origin}/favicon.svg`] };
}

/**
 * A WalletConnect connector for `projectId` on the supported chains, with the pairing QR modal.
 * The module (and the WalletConnect SDK behind it) is fetched on first use only.
 */
export async function walletConnectConnector(projectId: string, origin: string): Promise<CreateConnectorFn> {
  const { walletConnect } = await import("wagmi/connectors/walletConnect");
  return walletConnect({ projectId, showQrModal: true, metadata: walletConnectMetadata(origin) });
}
