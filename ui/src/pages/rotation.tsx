import { useState } from "preact/hooks";
import type { RotationPolicy } from "../api.js";
import { useApp } from "../app-context.js";
import { Badge, Empty, ErrorBox, Field, Loading, PagedTable, Pager, useCall, useKeysetPages, useLoad, when } from "../components.js";
import { href, navigate } from "../router.js";

// Rotation policies (schedule, grace period, generation) and the secrets due. Per-secret provider
// rotation (bindings, runs with steps, version stages) gets its own page file and routes entry.

interface PolicyForm {
  name: string;
  description: string;
  interval: string;
  gracePeriod: string;
  warnBefore: string;
  autoGenerate: boolean;
  secretPolicyId: string;
}

const emptyForm: PolicyForm = { name: "", description: "", interval: "30d", gracePeriod: "", warnBefore: "", autoGenerate: true, secretPolicyId: "" };

/** How often a policy rotates: its interval, or its cron schedule in its time zone (and window). */
export function policyCadence(p: RotationPolicy): string {
  if (p.interval) return p.interval;
  if (!p.schedule) return "";
  return `cron ${p.schedule} (${p.timezone || "UTC"})${p.rotationWindow ? `, within ${p.rotationWindow}` : ""}`;
}

function formOf(p: RotationPolicy): PolicyForm {
  return {
    name: p.name,
    description: p.description ?? "",
    interval: p.interval ?? "",
    gracePeriod: p.gracePeriod,
    warnBefore: p.warnBefore ?? "",
    autoGenerate: p.autoGenerate,
    secretPolicyId: p.secretPolicyId ?? "",
  };
}

function PolicyFields({ form, setForm, creating }: { form: PolicyForm; setForm: (f: PolicyForm) => void; creating: boolean }) {
  return (
    <>
      {creating && (
        <Field label="Name">
          <input name="name" required value={form.name} onInput={(e) => setForm({ ...form, name: e.currentTarget.value })} />
        </Field>
      )}
      <Field label="Description">
        <input name="description" value={form.description} onInput={(e) => setForm({ ...form, description: e.currentTarget.value })} />
      </Field>
      <Field label="Interval" hint="How often: 30d, 12h, 90m.">
        <input name="interval" required value={form.interval} onInput={(e) => setForm({ ...form, interval: e.currentTarget.value })} />
      </Field>
      <Field label="Grace period" hint="How long the previous version stays readable after a rotation.">
        <input name="grace_period" value={form.gracePeriod} onInput={(e) => setForm({ ...form, gracePeriod: e.currentTarget.value })} />
      </Field>
      <Field label="Warn before">
        <input name="warn_before" value={form.warnBefore} onInput={(e) => setForm({ ...form, warnBefore: e.currentTarget.value })} />
      </Field>
      <Field label="Secret policy id" hint="Which generation rules make the new value.">
        <input name="secret_policy_id" value={form.secretPolicyId} onInput={(e) => setForm({ ...form, secretPolicyId: e.currentTarget.value })} />
      </Field>
      <label class="check">
        <input type="checkbox" name="auto_generate" checked={form.autoGenerate} onChange={(e) => setForm({ ...form, autoGenerate: e.currentTarget.checked })} /> Generate the new value
      </label>
    </>
  );
}

export function RotationPoliciesPage() {
  const { session } = useApp();
  const pages = useKeysetPages("");
  const { data, error, loading } = useLoad(() => session.client.rotation.listRotationPolicies({ limit: 50, cursor: pages.cursor }), [session, pages.cursor]);
  const [form, setForm] = useState<PolicyForm>(emptyForm);
  const [open, setOpen] = useState(false);
  const call = useCall();

  async function create(e: Event) {
    e.preventDefault();
    const p = await call.run(() =>
      session.client.rotation.createRotationPolicy({
        name: form.name,
        description: form.description || undefined,
        interval: form.interval,
        gracePeriod: form.gracePeriod || undefined,
        warnBefore: form.warnBefore || undefined,
        autoGenerate: form.autoGenerate,
        secretPolicyId: form.secretPolicyId || undefined,
      }),
    );
    if (p) navigate("/rotation/policy", { id: p.id });
  }

  return (
    <section aria-labelledby="rotation-title">
      <div class="page-head">
        <h1 id="rotation-title">Rotation policies</h1>
        <button type="button" class="primary" aria-expanded={open} onClick={() => setOpen(!open)}>
          New policy
        </button>
      </div>
      {open && (
        <form class="card" onSubmit={create} aria-label="New rotation policy">
          <PolicyFields form={form} setForm={setForm} creating />
          <ErrorBox error={call.error} />
          <button type="submit" class="primary" disabled={call.busy}>
            Create policy
          </button>
        </form>
      )}
      <ErrorBox error={error} />
      {loading ? (
        <Loading what="rotation policies" />
      ) : data && data.data.length === 0 ? (
        <Empty>No rotation policies yet.</Empty>
      ) : (
        data && (
          <>
            <PagedTable
              headings={["Name", "Interval", "Grace", "Secrets", "Status"]}
              items={data.data}
              page={data}
              pages={pages}
              row={(p) => (
                <tr key={p.id}>
                  <td>
                    <a href={href("/rotation/policy", { id: p.id })}>{p.name}</a>
                  </td>
                  <td>{policyCadence(p)}</td>
                  <td>{p.gracePeriod}</td>
                  <td>{p.secretsCount}</td>
                  <td>{p.isActive ? <Badge tone="ok">enabled</Badge> : <Badge tone="off">disabled</Badge>}</td>
                </tr>
              )}
            />
          </>
        )
      )}
    </section>
  );
}

export function RotationPolicyPage({ id }: { id: string }) {
  const { session } = useApp();
  const rotation = session.client.rotation;
  const { data: policy, error, loading, reload } = useLoad(() => rotation.getRotationPolicy({ id }), [session, id]);
  const historyPages = useKeysetPages(id);
  const history = useLoad(() => rotation.listRotationHistory({ id, limit: 20, cursor: historyPages.cursor }), [session, id, historyPages.cursor]);
  const [form, setForm] = useState<PolicyForm>();
  const [assignPath, setAssignPath] = useState("");
  const [notice, setNotice] = useState<string>();
  const call = useCall();

  async function act(label: string, fn: () => Promise<unknown>) {
    setNotice(undefined);
    const ok = await call.run(fn);
    if (ok !== undefined) {
      setNotice(label);
      void reload();
      void history.reload();
    }
  }
  async function save(e: Event) {
    e.preventDefault();
    if (!form) return;
    await act("Saved.", () =>
      rotation.updateRotationPolicy({
        id,
        description: form.description,
        interval: form.interval,
        gracePeriod: form.gracePeriod || undefined,
        warnBefore: form.warnBefore || undefined,
        autoGenerate: form.autoGenerate,
        secretPolicyId: form.secretPolicyId || undefined,
      }),
    );
    setForm(undefined);
  }
  async function rotateNow() {
    setNotice(undefined);
    const res = await call.run(() => rotation.rotatePolicy({ id }));
    if (!res) return;
    const failed = res.items.filter((i) => i.status !== "success");
    setNotice(`Rotated ${res.items.length - failed.length} of ${res.items.length} secrets${failed.length ? `; ${failed.length} failed` : ""}.`);
    void reload();
    void history.reload();
  }

  return (
    <section aria-labelledby="policy-title">
      <p class="back">
        <a href={href("/rotation")}>← Rotation policies</a>
      </p>
      {loading && <Loading what="the policy" />}
      <ErrorBox error={error} />
      {policy && (
        <>
          <div class="page-head">
            <h1 id="policy-title">
              {policy.name} {policy.isActive ? <Badge tone="ok">enabled</Badge> : <Badge tone="off">disabled</Badge>}
            </h1>
            <div class="actions">
              <button type="button" class="primary" onClick={rotateNow} disabled={call.busy}>
                Rotate now
              </button>
              {policy.isActive ? (
                <button type="button" onClick={() => act("Disabled.", () => rotation.disableRotationPolicy({ id }))} disabled={call.busy}>
                  Disable
                </button>
              ) : (
                <button type="button" onClick={() => act("Enabled.", () => rotation.enableRotationPolicy({ id }))} disabled={call.busy}>
                  Enable
                </button>
              )}
              <button type="button" onClick={() => setForm(form ? undefined : formOf(policy))} aria-expanded={!!form}>
                Edit
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
            <form class="card" onSubmit={save} aria-label="Edit rotation policy">
              <PolicyFields form={form} setForm={setForm} creating={false} />
              <button type="submit" class="primary" disabled={call.busy}>
                Save policy
              </button>
            </form>
          )}
          <dl class="meta">
            <dt>Description</dt>
            <dd>{policy.description || "—"}</dd>
            <dt>Interval</dt>
            <dd>{policyCadence(policy)}</dd>
            <dt>Grace period</dt>
            <dd>{policy.gracePeriod}</dd>
            <dt>Warn before</dt>
            <dd>{policy.warnBefore || "—"}</dd>
            <dt>Generates values</dt>
            <dd>{policy.autoGenerate ? "yes" : "no"}</dd>
            <dt>Secret policy</dt>
            <dd>{policy.secretPolicyId || "—"}</dd>
            <dt>Secrets</dt>
            <dd>{policy.secretsCount}</dd>
            <dt>Updated</dt>
            <dd>{when(policy.updatedAt)}</dd>
          </dl>
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              void act(`Assigned ${assignPath}.`, () => rotation.assignSecret({ id, secretPath: assignPath.trim() }));
            }}
          >
            <Field label="Secret path">
              <input name="secret_path" required value={assignPath} onInput={(e) => setAssignPath(e.currentTarget.value)} />
            </Field>
            <button type="submit" disabled={call.busy}>
              Assign
            </button>
            <button type="button" disabled={call.busy || !assignPath.trim()} onClick={() => act(`Detached ${assignPath}.`, () => rotation.detachSecret({ id, secretPath: assignPath.trim() }))}>
              Detach
            </button>
          </form>
          <h2>History</h2>
          <ErrorBox error={history.error} />
          {history.loading ? (
            <Loading what="history" />
          ) : history.data && history.data.data.length === 0 ? (
            <Empty>No rotations yet.</Empty>
          ) : (
            history.data && (
              <>
                <div class="table-wrap">
                  <table class="history">
                    <thead>
                      <tr>
                        <th scope="col">Secret</th>
                        <th scope="col">Status</th>
                        <th scope="col">Versions</th>
                        <th scope="col">When</th>
                        <th scope="col">By</th>
                        <th scope="col">Error</th>
                      </tr>
                    </thead>
                    <tbody>
                      {history.data.data.map((h) => (
                        <tr key={h.id}>
                          <td>
                            <a href={href("/secret", { path: h.secretPath })}>{h.secretPath}</a>
                          </td>
                          <td>{h.status === "success" ? <Badge tone="ok">{h.status}</Badge> : <Badge tone="bad">{h.status}</Badge>}</td>
                          <td class="versions-change">
                            {h.oldVersion ?? "—"} → {h.newVersion ?? "—"}
                          </td>
                          <td>{when(h.rotatedAt)}</td>
                          <td>{h.rotatedBy}</td>
                          <td>{h.error ?? ""}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
                <Pager page={historyPages.page} hasMore={history.data.hasMore} nextCursor={history.data.cursor} pages={historyPages} />
              </>
            )
          )}
        </>
      )}
    </section>
  );
}

export function DuePage() {
  const { session } = useApp();
  const [hours, setHours] = useState(24 * 7);
  const { data, error, loading } = useLoad(() => session.client.rotation.listDueSecrets({ withinHours: hours, includeOverdue: true }), [session, hours]);
  return (
    <section aria-labelledby="due-title">
      <h1 id="due-title">Due rotations</h1>
      <Field label="Due within (hours)">
        <input name="within_hours" type="number" min={1} value={hours} onChange={(e) => setHours(Number(e.currentTarget.value) || 1)} />
      </Field>
      <ErrorBox error={error} />
      {loading ? (
        <Loading what="due secrets" />
      ) : data && data.secrets.length === 0 ? (
        <Empty>Nothing is due in this window.</Empty>
      ) : (
        data && (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Secret</th>
                  <th scope="col">Policy</th>
                  <th scope="col">Next rotation</th>
                  <th scope="col">Status</th>
                </tr>
              </thead>
              <tbody>
                {data.secrets.map((d) => (
                  <tr key={d.path}>
                    <td>
                      <a href={href("/secret", { path: d.path })}>{d.path}</a>
                    </td>
                    <td>
                      <a href={href("/rotation/policy", { id: d.policyId })}>{d.policyName}</a>
                    </td>
                    <td>{when(d.nextRotationAt)}</td>
                    <td>{d.isOverdue ? <Badge tone="bad">overdue</Badge> : <Badge tone="info">due</Badge>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )
      )}
    </section>
  );
}
