import { useState } from "react";
import { Link, useNavigate } from "react-router";
import { useApp } from "../AppContext";
import { ApiError } from "../api/problem";
import { portfolioFieldKey } from "../api/client";
import { AddressList } from "../components/AddressList";
import { ConfirmDialog } from "../components/ConfirmDialog";
import { Async, Empty, FieldError } from "../components/States";
import { errorText, useResource } from "../useResource";
import type { Portfolio } from "../api/types";

export function Portfolios() {
  const { api, pushToast } = useApp();
  const portfolios = useResource(() => api.listPortfolios(), [api]);
  const [deleting, setDeleting] = useState<Portfolio | null>(null);
  const [busy, setBusy] = useState(false);

  async function confirmDelete() {
    if (!deleting) return;
    setBusy(true);
    try {
      await api.deletePortfolio(deleting.id);
      pushToast({ title: `Deleted “${deleting.name}”`, tone: "success" });
      setDeleting(null);
      portfolios.reload();
    } catch (err) {
      pushToast({ title: "Could not delete the portfolio", body: errorText(err), tone: "error" });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section>
      <h1>Portfolios</h1>
      <Async resource={portfolios} label="Loading portfolios…">
        {(items) =>
          items.length === 0 ? (
            <Empty title="No portfolios yet">
              <p>Group the addresses you want to watch into a portfolio below.</p>
            </Empty>
          ) : (
            <ul className="cards">
              {items.map((p) => (
                <li key={p.id} className="card">
                  <h2>
                    <Link to={`/portfolios/${p.id}`}>{p.name}</Link>
                  </h2>
                  <p className="muted">
                    {p.addresses.length} address{p.addresses.length === 1 ? "" : "es"}
                  </p>
                  <button type="button" className="link danger" onClick={() => setDeleting(p)} aria-label={`Delete ${p.name}`}>
                    Delete
                  </button>
                </li>
              ))}
            </ul>
          )
        }
      </Async>
      <CreatePortfolio onCreated={portfolios.reload} />
      {deleting && (
        <ConfirmDialog
          title="Delete portfolio?"
          message={`“${deleting.name}” and its history will be deleted. Rules attached to it are deleted too.`}
          confirmLabel="Delete portfolio"
          busy={busy}
          onConfirm={() => void confirmDelete()}
          onCancel={() => setDeleting(null)}
        />
      )}
    </section>
  );
}

function CreatePortfolio({ onCreated }: { onCreated: () => void }) {
  const { api, pushToast } = useApp();
  const navigate = useNavigate();
  const [name, setName] = useState("");
  const [addresses, setAddresses] = useState<string[]>([]);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!name.trim()) local.name = "Give the portfolio a name.";
    if (!addresses.length) local.addresses = "Add at least one address.";
    setErrors(local);
    if (Object.keys(local).length) return;
    setBusy(true);
    try {
      const created = await api.createPortfolio({ name: name.trim(), addresses });
      pushToast({ title: `Created “${created.name}”`, tone: "success" });
      onCreated();
      navigate(`/portfolios/${created.id}`);
    } catch (err) {
      if (err instanceof ApiError && err.fieldErrors.length) {
        const map: Record<string, string> = {};
        for (const f of err.fieldErrors) map[portfolioFieldKey(f.field)] ??= f.message;
        setErrors(map.name || map.addresses ? map : { ...map, form: err.userMessage });
      } else setErrors({ form: errorText(err) });
    } finally {
      setBusy(false);
    }
  }

  return (
    <form className="panel" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="new-portfolio">
      <h2 id="new-portfolio">New portfolio</h2>
      <label htmlFor="portfolio-name">Name</label>
      <input
        id="portfolio-name"
        value={name}
        maxLength={100}
        onChange={(e) => setName(e.target.value)}
        aria-invalid={errors.name ? true : undefined}
        aria-describedby={errors.name ? "portfolio-name-err" : undefined}
      />
      <FieldError id="portfolio-name-err" message={errors.name} />
      <AddressList addresses={addresses} onChange={setAddresses} serverError={errors.addresses} />
      {errors.form && (
        <p className="state state-error" role="alert">
          {errors.form}
        </p>
      )}
      <button type="submit" className="primary" disabled={busy}>
        {busy ? "Creating…" : "Create portfolio"}
      </button>
    </form>
  );
}
