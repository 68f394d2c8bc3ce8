import { useState } from "preact/hooks";
import type { Webhook } from "../api.js";
import { useApp } from "../app-context.js";
import { Badge, Empty, ErrorBox, Field, Loading, PagedTable, Pager, splitList, useCall, useKeysetPages, useLoad, when } from "../components.js";
import { href, navigate } from "../router.js";

interface HookForm {
  name: string;
  url: string;
  secret: string;
  events: string;
  isActive: boolean;
}

/** Signing secrets are write-only: the field starts empty and an empty field keeps the current one. */
function HookFields({ form, setForm, creating }: { form: HookForm; setForm: (f: HookForm) => void; creating: boolean }) {
  return (
    <>
      {creating && (
        <Field label="Name">
          <input name="name" required value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        </Field>
      )}
      <Field label="URL">
        <input name="url" type="url" required value={form.url} onInput={(e) => setForm({ ...form, url: e.currentTarget.value })} />
      </Field>
      <Field label="Signing secret" hint={creating ? "Empty: the service generates one and shows it once." : "Empty keeps the current secret."}>
        <input name="secret" type="password" autoComplete="new-password" value={form.secret} onInput={(e) => setForm({ ...form, secret: e.currentTarget.value })} />
      </Field>
      <Field label="Events" hint="Comma-separated, e.g. rotation.completed, rotation.failed, secret.updated; empty for all.">
        <input name="events" value={form.events} onInput={(e) => setForm({ ...form, events: e.currentTarget.value })} />
      </Field>
      <label class="check">
        <input type="checkbox" name="is_active" checked={form.isActive} onChange={(e) => setForm({ ...form, isActive: e.currentTarget.checked })} /> Active
      </label>
    </>
  );
}

export function WebhooksPage() {
  const { session } = useApp();
  const pages = useKeysetPages("");
  const { data, error, loading } = useLoad(() => session.client.webhooks.listWebhooks({ limit: 50, cursor: pages.cursor }), [session, pages.cursor]);
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState<HookForm>({ name: "", url: "", secret: "", events: "", isActive: true });
  const [created, setCreated] = useState<Webhook>();
  const call = useCall();
  async function create(e: Event) {
    e.preventDefault();
    const hook = await call.run(() =>
      session.client.webhooks.createWebhook({ name: form.name, url: form.url, secret: form.secret || undefined, events: splitList(form.events), isActive: form.isActive }),
    );
    if (hook?.secret) setCreated(hook);
    else if (hook) navigate("/webhook", { id: hook.id });
  }
  return (
    <section aria-labelledby="webhooks-title">
      <div class="page-head">
        <h1 id="webhooks-title">Webhooks</h1>
        <button type="button" class="primary" aria-expanded={open} onClick={() => setOpen(!open)}>
          New webhook
        </button>
      </div>
      {created && (
        <div class="notice" role="status">
          Created <a href={href("/webhook", { id: created.id })}>{created.name}</a>. Its signing secret, shown this once: <code class="secret-value">{created.secret}</code>
        </div>
      )}
      {open && (
        <form class="card" onSubmit={create} aria-label="New webhook">
          <HookFields form={form} setForm={setForm} creating />
          <ErrorBox error={call.error} />
          <button type="submit" class="primary" disabled={call.busy}>
            Create webhook
          </button>
        </form>
      )}
      <ErrorBox error={error} />
      {loading ? (
        <Loading what="webhooks" />
      ) : data && data.data.length === 0 ? (
        <Empty>No webhooks yet.</Empty>
      ) : (
        data && (
          <>
            <PagedTable
              headings={["Name", "URL", "Events", "Status"]}
              items={data.data}
              page={data}
              pages={pages}
              row={(w) => (
                <tr key={w.id}>
                  <td>
                    <a href={href("/webhook", { id: w.id })}>{w.name}</a>
                  </td>
                  <td class="url">{w.url}</td>
                  <td>{w.events.join(", ") || "all"}</td>
                  <td>{w.isActive ? <Badge tone="ok">active</Badge> : <Badge tone="off">paused</Badge>}</td>
                </tr>
              )}
            />
          </>
        )
      )}
    </section>
  );
}

export function WebhookPage({ id }: { id: string }) {
  const { session } = useApp();
  const webhooks = session.client.webhooks;
  const { data: hook, error, loading, reload } = useLoad(() => webhooks.getWebhook({ id }), [session, id]);
  const pages = useKeysetPages(id);
  const deliveries = useLoad(() => webhooks.listWebhookDeliveries({ id, limit: 25, cursor: pages.cursor }), [session, id, pages.cursor]);
  const [form, setForm] = useState<HookForm>();
  const [notice, setNotice] = useState<string>();
  const call = useCall();

  async function save(e: Event) {
    e.preventDefault();
    if (!form) return;
    const ok = await call.run(() =>
      webhooks.updateWebhook({
        id,
        url: form.url,
        secret: form.secret || undefined,
        events: { values: splitList(form.events).map((v) => ({ kind: { case: "stringValue" as const, value: v } })) },
        isActive: form.isActive,
      }),
    );
    if (ok) {
      setForm(undefined);
      setNotice("Saved.");
      void reload();
    }
  }
  async function sendTest() {
    const res = await call.run(() => webhooks.testWebhook({ id }));
    if (res) {
      setNotice(`Test event ${res.eventId} queued; its delivery appears below.`);
      void deliveries.reload();
    }
  }
  async function remove() {
    if (!confirm("Delete this webhook?")) return;
    if (await call.run(() => webhooks.deleteWebhook({ id }))) navigate("/webhooks");
  }

  return (
    <section aria-labelledby="webhook-title">
      <p class="back">
        <a href={href("/webhooks")}>← Webhooks</a>
      </p>
      {loading && <Loading what="the webhook" />}
      <ErrorBox error={error} />
      {hook && (
        <>
          <div class="page-head">
            <h1 id="webhook-title">
              {hook.name} {hook.isActive ? <Badge tone="ok">active</Badge> : <Badge tone="off">paused</Badge>}
            </h1>
            <div class="actions">
              <button type="button" class="primary" onClick={sendTest} disabled={call.busy}>
                Send test
              </button>
              <button type="button" aria-expanded={!!form} onClick={() => setForm(form ? undefined : { name: hook.name, url: hook.url, secret: "", events: hook.events.join(", "), isActive: hook.isActive })}>
                Edit
              </button>
              <button type="button" class="danger" onClick={remove} disabled={call.busy}>
                Delete
              </button>
            </div>
          </div>
          {notice && (
            <p class="notice" role="status">
              {notice}
            </p>
          )}
          <ErrorBox error={call.error} />
          {form && (
            <form class="card" onSubmit={save} aria-label="Edit webhook">
              <HookFields form={form} setForm={setForm} creating={false} />
              <button type="submit" class="primary" disabled={call.busy}>
                Save webhook
              </button>
            </form>
          )}
          <dl class="meta">
            <dt>URL</dt>
            <dd class="url">{hook.url}</dd>
            <dt>Events</dt>
            <dd>{hook.events.join(", ") || "all"}</dd>
            <dt>Created</dt>
            <dd>{when(hook.createdAt)}</dd>
          </dl>
          <h2>Deliveries</h2>
          <button type="button" onClick={() => deliveries.reload()}>
            Refresh
          </button>
          <ErrorBox error={deliveries.error} />
          {deliveries.loading ? (
            <Loading what="deliveries" />
          ) : deliveries.data && deliveries.data.data.length === 0 ? (
            <Empty>No deliveries yet.</Empty>
          ) : (
            deliveries.data && (
              <>
                <div class="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">Event</th>
                        <th scope="col">Attempt</th>
                        <th scope="col">State</th>
                        <th scope="col">Response</th>
                        <th scope="col">Latency</th>
                        <th scope="col">When</th>
                        <th scope="col">Error</th>
                      </tr>
                    </thead>
                    <tbody>
                      {deliveries.data.data.map((d) => (
                        <tr key={d.id}>
                          <td>{d.eventType}</td>
                          <td>{d.attempt}</td>
                          <td>{d.state === "delivered" ? <Badge tone="ok">{d.state}</Badge> : d.state === "failed" ? <Badge tone="bad">{d.state}</Badge> : <Badge tone="info">{d.state}</Badge>}</td>
                          <td>{d.statusCode ?? "—"}</td>
                          <td>{d.latencyMs} ms</td>
                          <td>{when(d.attemptedAt)}</td>
                          <td>{d.error ?? ""}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                <Pager page={pages.page} hasMore={deliveries.data.hasMore} nextCursor={deliveries.data.cursor} pages={pages} />
              </>
            )
          )}
        </>
      )}
    </section>
  );
}
