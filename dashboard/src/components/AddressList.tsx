import { useId, useState } from "react";
import { checkAddress } from "../wallet/address";
import { FieldError } from "./States";

/** Edits a list of addresses: each entry is validated and checksummed before it is added. */
export function AddressList(props: { addresses: string[]; onChange: (next: string[]) => void; serverError?: string; disabled?: boolean }) {
  const [draft, setDraft] = useState("");
  const [error, setError] = useState<string | undefined>();
  const id = useId();

  function add() {
    const check = checkAddress(draft);
    if (!check.ok) {
      setError(check.error);
      return;
    }
    if (props.addresses.some((a) => a.toLowerCase() === check.address.toLowerCase())) {
      setError("This address is already in the list.");
      return;
    }
    props.onChange([...props.addresses, check.address]);
    setDraft("");
    setError(undefined);
  }

  const message = error ?? props.serverError;
  return (
    <fieldset className="address-list">
      <legend>Addresses</legend>
      {props.addresses.length === 0 ? (
        <p className="muted">No addresses yet.</p>
      ) : (
        <ul>
          {props.addresses.map((a) => (
            <li key={a}>
              <code>{a}</code>
              <button
                type="button"
                className="link"
                aria-label={`Remove ${a}`}
                disabled={props.disabled}
                onClick={() => props.onChange(props.addresses.filter((x) => x !== a))}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="inline-form">
        <label htmlFor={`${id}-addr`}>Add address</label>
        <input
          id={`${id}-addr`}
          value={draft}
          placeholder="0x…"
          spellCheck={false}
          autoComplete="off"
          aria-invalid={message ? true : undefined}
          aria-describedby={message ? `${id}-err` : undefined}
          disabled={props.disabled}
          onChange={(e) => {
            setDraft(e.target.value);
            setError(undefined);
          }}
          onKeyDown={(e) => {
            if (e.key === "Enter") {
              e.preventDefault();
              add();
            }
          }}
        />
        <button type="button" onClick={add} disabled={props.disabled}>
          Add
        </button>
      </div>
      <FieldError id={`${id}-err`} message={message} />
    </fieldset>
  );
}
