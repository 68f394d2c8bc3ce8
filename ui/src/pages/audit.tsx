import { useState } from "preact/hooks";
import { timestampFromDate, type AuditEvent } from "../api.js";
import { useApp } from "../app-context.js";
import { Empty, ErrorBox, Field, Loading, PagedTable, useKeysetPages, useLoad, when } from "../components.js";
import { navigate } from "../router.js";

const filterNames = ["path", "action", "actor", "since", "until"] as const;

/** The tenant's audit log with filters, keyset paging and a detail view of one event. */
export function AuditPage({ query }: { query: URLSearchParams }) {
  const { session } = useApp();
  const filters = Object.fromEntries(filterNames.map((n) => [n, query.get(n) ?? ""])) as Record<(typeof filterNames)[number], string>;
  const key = JSON.stringify(filters);
  const pages = useKeysetPages(key);
  const { data, error, loading } = useLoad(
    () =>
      session.client.audit.listAuditEvents({
        path: filters.path || undefined,
        action: filters.action || undefined,
        actor: filters.actor || undefined,
        since: filters.since ? timestampFromDate(new Date(filters.since)) : undefined,
        until: filters.until ? timestampFromDate(new Date(filters.until)) : undefined,
        limit: 50,
        cursor: pages.cursor,
      }),
    [session, key, pages.cursor],
  );
  const [form, setForm] = useState(filters);
  const [detail, setDetail] = useState<AuditEvent>();

  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          navigate("/audit", form);
        }}
      >
        <Field label="Path">
          <input name="path" value={form.path} onInput={(e) => setForm({ ...form, path: e.currentTarget.value })} />
        </Field>
        <Field label="Action">
          <input name="action" value={form.action} placeholder="GetSecret" onInput={(e) => setForm({ ...form, action: e.currentTarget.value })} />
        </Field>
        <Field label="Actor">
          <input name="actor" value={form.actor} onInput={(e) => setForm({ ...form, actor: e.currentTarget.value })} />
        </Field>
        <Field label="Since">
          <input name="since" type="datetime-local" value={form.since} onInput={(e) => setForm({ ...form, since: e.currentTarget.value })} />
        </Field>
        <Field label="Until">
          <input name="until" type="datetime-local" value={form.until} onInput={(e) => setForm({ ...form, until: e.currentTarget.value })} />
        </Field>
        <button type="submit">Filter</button>
      </form>
      <ErrorBox error={error} />
      {detail && (
        <div class="card" role="region" aria-label="Event detail">
          <h2>Event {detail.id}</h2>
          <dl class="meta">
            <dt>Time</dt>
            <dd>{when(detail.time)}</dd>
            <dt>Action</dt>
            <dd>{detail.action}</dd>
            <dt>Outcome</dt>
            <dd>{detail.outcome}</dd>
            <dt>Actor</dt>
            <dd>{detail.actor}</dd>
            <dt>Acting tenant</dt>
            <dd>{detail.actingTenant}</dd>
            <dt>Target tenant</dt>
            <dd>{detail.targetTenant}</dd>
            <dt>Path</dt>
            <dd>{detail.path ?? "—"}</dd>
            <dt>Version</dt>
            <dd>{detail.version ?? "—"}</dd>
            <dt>Client address</dt>
            <dd>{detail.clientAddress ?? "—"}</dd>
            <dt>Request id</dt>
            <dd>
              <code>{detail.requestId}</code>
            </dd>
          </dl>
          <button type="button" onClick={() => setDetail(undefined)}>
            Close
          </button>
        </div>
      )}
      {loading ? (
        <Loading what="audit events" />
      ) : data && data.data.length === 0 ? (
        <Empty>No audit events match.</Empty>
      ) : (
        data && (
          <>
            <PagedTable
              headings={["Time", "Action", "Path", "Actor", "Outcome"]}
              tableClass="audit-table"
              items={data.data}
              page={data}
              pages={pages}
              row={(ev) => (
                <tr key={ev.id}>
                  <td>
                    <button type="button" class="link" onClick={() => setDetail(ev)}>
                      {when(ev.time)}
                    </button>
                  </td>
                  <td class="audit-action">{ev.action}</td>
                  <td>{ev.path ?? ""}</td>
                  <td>{ev.actor}</td>
                  <td>{ev.outcome}</td>
                </tr>
              )}
            />
          </>
        )
      )}
    </section>
  );
}
