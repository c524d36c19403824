import { useState } from "react";
import { useNavigate, useParams } from "react-router";
import { useApp } from "../AppContext";
import { Async, ErrorBanner, FieldError } from "../components/States";
import { useResource } from "../useResource";
import { checkAddress } from "../wallet/address";
import { Positions, Summary } from "./PortfolioView";

/** Any address's positions and health factors, without signing in (on-chain data is public). */
export function AddressView() {
  const param = useParams().address ?? "";
  const navigate = useNavigate();
  const { api } = useApp();
  const [input, setInput] = useState(param);
  const [error, setError] = useState<string | null>(null);
  const checked = param ? checkAddress(param) : null;
  const address = checked?.ok ? checked.address : null;
  const view = useResource(() => (address ? api.addressPositions(address) : Promise.resolve(null)), [api, address]);

  function look(e: React.FormEvent) {
    e.preventDefault();
    const c = checkAddress(input);
    if (!c.ok) return setError(c.error);
    setError(null);
    navigate(`/address/${c.address}`);
  }

  return (
    <section>
      <h1>Look up an address</h1>
      <form className="inline-form" onSubmit={look} noValidate>
        <label htmlFor="lookup">Address</label>
        <input
          id="lookup"
          value={input}
          onChange={(e) => setInput(e.target.value)}
          placeholder="0x…"
          spellCheck={false}
          autoComplete="off"
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? "lookup-error" : undefined}
        />
        <button type="submit" className="primary">
          Show positions
        </button>
        <FieldError id="lookup-error" message={error ?? undefined} />
      </form>
      {checked && !checked.ok && <ErrorBanner error={new Error(checked.error)} />}
      {address && (
        <Async resource={view} label="Reading positions on every chain…">
          {(v) =>
            v && (
              <>
                <Summary view={v} />
                <Positions positions={v.positions} emptyText="This address has no position in Aave v3, Compound v3 or EigenLayer on Ethereum or Base." />
              </>
            )
          }
        </Async>
      )}
    </section>
  );
}
