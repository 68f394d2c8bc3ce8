import { useState } from "preact/hooks";
import type { RotationRun, SecretRotation } from "../api.js";
import { useApp } from "../app-context.js";
import { Badge, Empty, ErrorBox, Field, Loading, PagedTable, useKeysetPages, useLoad, when } from "../components.js";
import { href, navigate } from "../router.js";
import { providerNames } from "./rotation-providers.js";

// Every provider rotation of the tenant (ListSecretRotations), filtered by status and provider:
// the header's failing counter links here with `status=failing`.

const bindingStatuses = ["active", "paused", "failing"];

/** A binding's status: failing in red, paused grey. */
export function BindingStatus({ status }: { status: string }) {
  return <Badge tone={status === "failing" ? "bad" : status === "paused" ? "off" : "ok"}>{status === "failing" ? "rotation failing" : status}</Badge>;
}

/** A run's status: failed in red, in progress blue, rolled back grey. */
export function RunStatus({ status }: { status: string }) {
  const tone = status === "succeeded" ? "ok" : status === "failed" ? "bad" : status === "rolled_back" ? "off" : "info";
  return <Badge tone={tone}>{status.replace("_", " ")}</Badge>;
}

/** One line about a run: status, the step it is at, and its error. */
export function RunSummary({ run }: { run: RotationRun | undefined }) {
  if (!run) return <>none yet</>;
  return (
    <>
      <RunStatus status={run.status} /> at <code>{run.step}</code>, {when(run.startedAt)}
      {run.error && <span class="run-error"> — {run.error}</span>}
    </>
  );
}

/** Where a binding's schedule comes from: a policy, or manual rotations only. */
export function Schedule({ binding }: { binding: SecretRotation }) {
  if (!binding.policyId) return <>manual only</>;
  return (
    <>
      <a href={href("/rotation/policy", { id: binding.policyId })}>{binding.policyId}</a>
      {binding.interval ? `, every ${binding.interval}` : ""}
    </>
  );
}

export function RotationBindingsPage({ query }: { query: URLSearchParams }) {
  const { session } = useApp();
  const status = query.get("status") ?? "";
  const provider = query.get("provider") ?? "";
  const pages = useKeysetPages(`${status}|${provider}`);
  const { data, error, loading } = useLoad(
    () => session.client.rotation.listSecretRotations({ status: status || undefined, provider: provider || undefined, limit: 50, cursor: pages.cursor }),
    [session, status, provider, pages.cursor],
  );
  const [form, setForm] = useState({ status, provider });

  return (
    <section aria-labelledby="bindings-title">
      <h1 id="bindings-title">Provider rotations</h1>
      <p class="hint">Secrets whose credential is rotated at a provider. Set one up on the secret's page (Rotation → Enable rotation).</p>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          navigate("/rotation/secrets", form);
        }}
      >
        <Field label="Status">
          <select name="status" value={form.status} onChange={(e) => setForm({ ...form, status: e.currentTarget.value })}>
            <option value="">Any</option>
            {bindingStatuses.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Provider">
          <select name="provider" value={form.provider} onChange={(e) => setForm({ ...form, provider: e.currentTarget.value })}>
            <option value="">Any</option>
            {providerNames.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        </Field>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={error} />
      {loading ? (
        <Loading what="provider rotations" />
      ) : data && data.data.length === 0 ? (
        <Empty>{status === "failing" ? "No rotation is failing." : "No provider rotations match."}</Empty>
      ) : (
        data && (
          <>
            <PagedTable
              headings={["Secret", "Status", "Provider", "Last run", "Schedule", "Next rotation"]}
              tableClass="bindings-table"
              items={data.data}
              page={data}
              pages={pages}
              row={(b) => (
                <tr key={b.path} class={b.status === "failing" ? "row-failing" : undefined}>
                  <td>
                    <a href={href("/secret", { path: b.path })}>{b.path}</a>
                  </td>
                  <td>
                    <BindingStatus status={b.status} />
                  </td>
                  <td>{b.provider}</td>
                  <td>
                    <RunSummary run={b.lastRun} />
                  </td>
                  <td>
                    <Schedule binding={b} />
                  </td>
                  <td>{when(b.nextRotationAt)}</td>
                </tr>
              )}
            />
          </>
        )
      )}
    </section>
  );
}
