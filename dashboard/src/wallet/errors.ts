/** Wallet failures as sentences a user can act on (EIP-1193 / EIP-1474 codes, wagmi and viem errors). */
import { BaseError, UserRejectedRequestError } from "viem";

function codeOf(err: unknown): number | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && e && typeof e === "object"; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "number") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

export function walletErrorMessage(err: unknown): string {
  if (err instanceof BaseError && err.walk((e) => e instanceof UserRejectedRequestError)) return "You rejected the request in your wallet.";
  const code = codeOf(err);
  if (code === 4001) return "You rejected the request in your wallet.";
  if (code === 4100) return "The wallet has not authorised this site or account.";
  if (code === 4902) return "The wallet does not know this network; add it in the wallet first.";
  if (code === -32002) return "A wallet request is already pending; open your wallet.";
  const name = (err as { name?: string })?.name ?? "";
  if (name === "ConnectorChainMismatchError") return "Your wallet is on another network; switch it and try again.";
  if (name === "SwitchChainNotSupportedError") return "This wallet cannot switch networks from here; switch it in the wallet.";
  if (name === "ConnectorNotConnectedError" || name === "ConnectorAccountNotFoundError") return "Connect your wallet first.";
  const message = err instanceof BaseError ? err.shortMessage : (err as { message?: string })?.message;
  return message ? `Wallet error: ${message}` : "The wallet request failed.";
}
