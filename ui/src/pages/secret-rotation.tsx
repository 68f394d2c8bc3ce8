import { useState } from "preact/hooks";
import { isScaiVaultError, type SecretMetadata, type SecretRotation } from "../api.js";
import { useApp } from "../app-context.js";
import { Badge, Empty, ErrorBox, Field, Loading, Pager, useCall, useKeysetPages, useLoad, when } from "../components.js";
import { href } from "../router.js";
import { policyCadence } from "./rotation.js";
import { BindingStatus, RunStatus, RunSummary, Schedule } from "./rotation-bindings.js";
import { configObject, configTexts, credentialsObject, isProviderName, providerForms, providerNames, type ProviderName } from "./rotation-providers.js";

/**
 * Rotation of one secret. With a provider rotation (a binding): its status, settings, actions
 * and runs. Without one: the secret may sit under a rotation policy only (the vault makes the
 * new value), or rotation is enabled here — under a policy, or at a provider.
 */
export function SecretRotationPanel({ path, metadata, onChange }: { path: string; metadata: SecretMetadata; onChange: () => void }) {
  const { session, rotationChanged } = useApp();
  const rotation = session.client.rotation;
  // Undefined while loading or after an error; null when the secret has no provider rotation
  // (asked over gRPC-web, so that ordinary "none" is no failed request in the browser's console).
  const binding = useLoad(async () => {
    try {
      return await session.lookups.rotation.getSecretRotation({ path });
    } catch (err) {
      if (isScaiVaultError(err) && err.isNotFound) return null;
      throw err;
    }
  }, [session, path]);
  const [runsRev, setRunsRev] = useState(0);
  const [setup, setSetup] = useState(false);

  function changed() {
    void binding.reload();
    setRunsRev((n) => n + 1);
    onChange();
    rotationChanged();
  }

  return (
    <>
      <div class="card" role="region" aria-label="Rotation">
        {binding.data === undefined && binding.loading && <Loading what="rotation" />}
        <ErrorBox error={binding.error} />
        {binding.data ? (
          <BindingView path={path} binding={binding.data} onChanged={changed} />
        ) : (
          binding.data === null &&
          (metadata.rotationPolicy && !setup ? (
            <PolicyRotation path={path} metadata={metadata} onChange={changed} onSetup={() => setSetup(true)} />
          ) : (
            <RotationForm
              path={path}
              policyId={metadata.rotationPolicy?.id}
              allowPolicyOnly={!metadata.rotationPolicy}
              onSaved={() => {
                setSetup(false);
                changed();
              }}
              onCancel={setup ? () => setSetup(false) : undefined}
            />
          ))
        )}
      </div>
      {binding.data && <RunHistory path={path} rev={runsRev} />}
    </>
  );
}

/** A secret rotated by a policy inside the vault (no provider): rotate now, disable, or move to a provider. */
function PolicyRotation({ path, metadata, onChange, onSetup }: { path: string; metadata: SecretMetadata; onChange: () => void; onSetup: () => void }) {
  const { session } = useApp();
  const rotation = session.client.rotation;
  const [notice, setNotice] = useState<string>();
  const call = useCall();
  const current = metadata.rotationPolicy!;
  return (
    <>
      <p>
        Rotated by policy <a href={href("/rotation/policy", { id: current.id })}>{current.id}</a>; next rotation {when(current.nextRotation)}.
      </p>
      <div class="actions">
        <button
          type="button"
          class="primary"
          disabled={call.busy}
          onClick={async () => {
            setNotice(undefined);
            const res = await call.run(() => rotation.rotatePolicy({ id: current.id, secretPaths: [path] }));
            const item = res?.items[0];
            if (!item) return;
            setNotice(item.status === "success" ? `Rotated: version ${item.oldVersion ?? "?"} → ${item.newVersion ?? "?"}.` : `Rotation ${item.status}${item.error ? `: ${item.error}` : ""}.`);
            onChange();
          }}
        >
          Rotate now
        </button>
        <button
          type="button"
          disabled={call.busy}
          onClick={async () => {
            setNotice(undefined);
            if ((await call.run(() => rotation.detachSecret({ id: current.id, secretPath: path }))) !== undefined) {
              setNotice("Rotation disabled for this secret.");
              onChange();
            }
          }}
        >
          Disable rotation
        </button>
        <button type="button" onClick={onSetup}>
          Set up provider rotation
        </button>
      </div>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={call.error} />
    </>
  );
}

/** A provider rotation: status, settings (never credentials), the last run, and what can be done with it. */
function BindingView({ path, binding, onChanged }: { path: string; binding: SecretRotation; onChanged: () => void }) {
  const { session } = useApp();
  const rotation = session.client.rotation;
  const call = useCall();
  const [notice, setNotice] = useState<string>();
  const [editing, setEditing] = useState(false);
  // Stripe in supplied mode takes the new key with the rotate call; it lives in this input only.
  const [suppliedKey, setSuppliedKey] = useState("");
  const supplied = binding.provider === "stripe" && binding.config?.mode === "supplied";
  const paused = binding.status === "paused";

  async function act(done: string, fn: () => Promise<unknown>) {
    setNotice(undefined);
    const ok = (await call.run(fn)) !== undefined;
    if (ok) setNotice(done);
    onChanged();
  }
  async function rotateNow() {
    setNotice(undefined);
    const res = await call.run(() => session.client.secrets.rotateSecret({ path, newValue: supplied ? { api_key: suppliedKey } : undefined }));
    setSuppliedKey("");
    if (res) setNotice(`Rotated: version ${res.previousVersion} → ${res.version}${res.runId ? ` (run ${res.runId})` : ""}.`);
    // A failed run marks the secret failing: show it either way.
    onChanged();
  }
  async function testConnection() {
    setNotice(undefined);
    const res = await call.run(() => rotation.testSecretRotation({ path }));
    if (!res) return;
    const bad = res.checks.find((c) => !c.ok);
    setNotice(bad ? `Connection test failed: ${bad.name}: ${bad.message}` : `Connection OK: ${res.checks.map((c) => `${c.name}: ${c.message}`).join("; ")}`);
  }
  async function emergencyRotate() {
    if (!confirm(emergencyWarning(path, binding))) return;
    const reason = prompt("Why? (kept on the run, in its events and the audit log)")?.trim();
    if (!reason) return;
    setNotice(undefined);
    const res = await call.run(() => session.client.secrets.rotateSecret({ path, emergency: true, reason, gracePeriod: "0s", newValue: supplied ? { api_key: suppliedKey } : undefined }));
    setSuppliedKey("");
    if (res) setNotice(`Emergency rotation: ${res.detail ?? `version ${res.version} is current`}.`);
    onChanged();
  }

  return (
    <>
      <div class="page-head">
        <h3 class="binding-title">
          Provider rotation <BindingStatus status={binding.status} />
        </h3>
        <div class="actions">
          <button type="button" class="primary" onClick={rotateNow} disabled={call.busy || (supplied && !suppliedKey)}>
            Rotate now
          </button>
          <button type="button" class="danger" onClick={emergencyRotate} disabled={call.busy || (supplied && !suppliedKey)}>
            Emergency rotate
          </button>
          <button type="button" onClick={testConnection} disabled={call.busy}>
            Test connection
          </button>
          {paused ? (
            <button type="button" onClick={() => act("Rotation resumed.", () => rotation.resumeSecretRotation({ path }))} disabled={call.busy}>
              Resume
            </button>
          ) : (
            <button type="button" onClick={() => act("Rotation paused: no scheduled rotation runs until resumed.", () => rotation.pauseSecretRotation({ path }))} disabled={call.busy}>
              Pause
            </button>
          )}
          <button
            type="button"
            onClick={() => {
              if (confirm(`Roll back ${path}? The previous version becomes current again and the new credential is revoked at the provider.`)) {
                void act("Rolled back: the previous version is current again.", () => rotation.rollbackSecretRotation({ path }));
              }
            }}
            disabled={call.busy}
          >
            Roll back
          </button>
          <button type="button" aria-expanded={editing} onClick={() => setEditing(!editing)}>
            Edit settings
          </button>
          <button type="button" onClick={() => (setNotice(undefined), onChanged())} disabled={call.busy}>
            Refresh
          </button>
          <button
            type="button"
            class="danger"
            onClick={() => {
              if (confirm(`Disable provider rotation of ${path}? The secret and its versions stay.`)) {
                void act("Provider rotation disabled.", () => rotation.deleteSecretRotation({ path }));
              }
            }}
            disabled={call.busy}
          >
            Disable
          </button>
        </div>
      </div>
      {supplied && (
        <Field label="New Stripe key" hint="Supplied mode: the key you rolled in Stripe's Dashboard; tested before it is promoted. Not kept by this page.">
          <input type="password" name="supplied_key" autoComplete="off" value={suppliedKey} onInput={(e) => setSuppliedKey(e.currentTarget.value)} />
        </Field>
      )}
      {call.busy && <Loading what="the provider's answer" />}
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={call.error} />
      {editing && (
        <RotationForm
          path={path}
          existing={binding}
          onSaved={() => {
            setEditing(false);
            setNotice("Settings saved.");
            onChanged();
          }}
          onCancel={() => setEditing(false)}
        />
      )}
      <dl class="meta binding-meta">
        <dt>Status</dt>
        <dd class="binding-status">
          <BindingStatus status={binding.status} />
          {binding.pausedAt && ` since ${when(binding.pausedAt)}`}
        </dd>
        <dt>Provider</dt>
        <dd class="binding-provider">{binding.provider}</dd>
        <dt>Settings</dt>
        <dd>
          {Object.keys(binding.config ?? {}).length === 0
            ? "—"
            : Object.entries(binding.config ?? {}).map(([k, v]) => (
                <span key={k} class="config-entry">
                  <code>{k}</code> = {typeof v === "string" ? v : JSON.stringify(v)}
                </span>
              ))}
        </dd>
        <dt>Credentials</dt>
        <dd>{binding.hasCredentials ? "stored (write-only, never shown)" : "none"}</dd>
        <dt>Schedule</dt>
        <dd>
          <Schedule binding={binding} />
        </dd>
        <dt>Grace period</dt>
        <dd>{binding.gracePeriod}</dd>
        <dt>Propagation check</dt>
        <dd>{binding.propagationCheck ? `GET ${binding.propagationCheck.url} → ${binding.propagationCheck.expectedStatus ?? 200} within ${binding.propagationCheck.timeout ?? "5s"}` : "none"}</dd>
        <dt>Attempts per step</dt>
        <dd>{binding.maxAttempts}</dd>
        <dt>Next rotation</dt>
        <dd>{paused ? "paused" : when(binding.nextRotationAt)}</dd>
        <dt>Last rotation</dt>
        <dd>{when(binding.lastRotatedAt)}</dd>
        <dt>Last run</dt>
        <dd class="last-run">
          <RunSummary run={binding.lastRun} />
        </dd>
      </dl>
    </>
  );
}

interface FormState {
  /** "" rotates under the policy only, inside the vault. */
  provider: ProviderName | "";
  config: Record<string, string>;
  policyId: string;
  gracePeriod: string;
  maxAttempts: string;
  checkUrl: string;
  checkStatus: string;
  checkTimeout: string;
}

/**
 * Enables rotation (under a policy only, or at a provider) or edits a provider rotation.
 * Credentials are password inputs held in this form's state only: never prefilled, never shown
 * back, never in the URL or storage, and cleared once saved.
 */
/** The emergency's confirmation: which credentials are revoked at the provider, so what stops working. */
function emergencyWarning(path: string, binding: SecretRotation): string {
  const run = binding.lastRun;
  const earlier = run && run.oldVersion !== undefined && ["verify", "revoke"].includes(run.step) && ["running", "waiting_grace", "failed"].includes(run.status) ? run.oldVersion : undefined;
  const current = run && earlier !== undefined ? `version ${run.newVersion}` : "the current version";
  return (
    `Emergency rotate ${path}?\n\n` +
    (earlier !== undefined ? `Version ${earlier}'s credential, still valid from run ${run!.id}, is revoked at the provider first: anything still using it stops working at once.\n` : "") +
    `A new credential is created, and ${current}'s credential is revoked as soon as the new one is verified: anything that has not reloaded the secret by then stops working.`
  );
}

function RotationForm({ path, existing, policyId, allowPolicyOnly, onSaved, onCancel }: { path: string; existing?: SecretRotation; policyId?: string; allowPolicyOnly?: boolean; onSaved: () => void; onCancel?: () => void }) {
  const { session } = useApp();
  const rotation = session.client.rotation;
  const policies = useLoad(() => rotation.listRotationPolicies({ activeOnly: true, limit: 100 }), [session]);
  const startProvider = existing && isProviderName(existing.provider) ? existing.provider : allowPolicyOnly ? "" : "webhook";
  const [form, setForm] = useState<FormState>(() => ({
    provider: startProvider,
    config: startProvider ? configTexts(startProvider, existing?.config) : {},
    policyId: existing ? (existing.policyId ?? "") : (policyId ?? ""),
    gracePeriod: existing?.gracePeriod ?? "",
    maxAttempts: String(existing?.maxAttempts ?? 3),
    checkUrl: existing?.propagationCheck?.url ?? "",
    checkStatus: existing?.propagationCheck?.expectedStatus ? String(existing.propagationCheck.expectedStatus) : "",
    checkTimeout: existing?.propagationCheck?.timeout ?? "",
  }));
  const [credentials, setCredentials] = useState<Record<string, string>>({});
  const call = useCall();
  const spec = form.provider ? providerForms[form.provider] : undefined;
  const set = (patch: Partial<FormState>) => setForm({ ...form, ...patch });
  const setConfig = (key: string, value: string) => setForm({ ...form, config: { ...form.config, [key]: value } });

  async function submit(e: Event) {
    e.preventDefault();
    const provider = form.provider;
    const saved = await call.run<unknown>(() =>
      provider === ""
        ? rotation.assignSecret({ id: form.policyId, secretPath: path })
        : rotation.configureSecretRotation({
            path,
            provider,
            config: configObject(provider, form.config),
            credentials: credentialsObject(provider, credentials),
            policyId: form.policyId || undefined,
            gracePeriod: form.gracePeriod.trim() || undefined,
            maxAttempts: Number(form.maxAttempts) || undefined,
            propagationCheck: form.checkUrl.trim()
              ? { url: form.checkUrl.trim(), expectedStatus: Number(form.checkStatus) || undefined, timeout: form.checkTimeout.trim() || undefined }
              : undefined,
          }),
    );
    if (saved === undefined) return;
    setCredentials({});
    onSaved();
  }

  return (
    <form class="rotation-form" method="post" onSubmit={submit} aria-label={existing ? "Provider rotation settings" : "Enable rotation"}>
      <Field label="Rotated by" hint={spec ? spec.about : "The policy's schedule makes a new value inside the vault; nothing changes elsewhere."}>
        <select
          name="provider"
          value={form.provider}
          disabled={!!existing}
          onChange={(e) => {
            const provider = e.currentTarget.value as ProviderName | "";
            setForm({ ...form, provider, config: {} });
            setCredentials({});
          }}
        >
          {allowPolicyOnly && <option value="">no provider: rotated inside the vault on the policy's schedule</option>}
          {providerNames.map((p) => (
            <option key={p} value={p}>
              {providerForms[p].label}
            </option>
          ))}
        </select>
      </Field>
      {spec && spec.config.length > 0 && (
        <fieldset>
          <legend>Provider settings</legend>
          {spec.config.map((f) =>
            f.kind === "check" ? (
              <label key={f.key} class="check">
                <input type="checkbox" name={`config_${f.key}`} checked={form.config[f.key] === "true"} onChange={(e) => setConfig(f.key, e.currentTarget.checked ? "true" : "")} /> {f.label}
              </label>
            ) : (
              <Field key={f.key} label={f.label} hint={f.hint}>
                {f.kind === "choice" ? (
                  <select name={`config_${f.key}`} required={f.required} value={form.config[f.key] ?? ""} onChange={(e) => setConfig(f.key, e.currentTarget.value)}>
                    <option value="">Choose…</option>
                    {f.choices!.map((c) => (
                      <option key={c} value={c}>
                        {c}
                      </option>
                    ))}
                  </select>
                ) : (
                  <input
                    name={`config_${f.key}`}
                    type={f.kind === "url" ? "url" : f.kind === "number" ? "number" : "text"}
                    required={f.required}
                    placeholder={f.placeholder}
                    value={form.config[f.key] ?? ""}
                    onInput={(e) => setConfig(f.key, e.currentTarget.value)}
                  />
                )}
              </Field>
            ),
          )}
        </fieldset>
      )}
      {spec && spec.credentials.length > 0 && (
        <fieldset>
          <legend>Credentials (write-only)</legend>
          <p class="hint">
            Stored encrypted and never shown again.{existing?.hasCredentials ? " Leave empty to keep the stored ones." : ""}
          </p>
          {spec.credentials.map((f) => (
            <Field key={f.key} label={f.label} hint={f.hint}>
              <input
                type="password"
                name={`credential_${f.key}`}
                autoComplete="new-password"
                spellcheck={false}
                value={credentials[f.key] ?? ""}
                onInput={(e) => setCredentials({ ...credentials, [f.key]: e.currentTarget.value })}
              />
            </Field>
          ))}
        </fieldset>
      )}
      <fieldset>
        <legend>Schedule</legend>
        <Field label="Rotation policy" hint={form.provider ? "Its interval or cron schedule drives the rotations; without one only manual rotations run." : undefined}>
          <select name="rotation_policy" required={form.provider === ""} value={form.policyId} onChange={(e) => set({ policyId: e.currentTarget.value })}>
            <option value="">{form.provider ? "None: manual rotations only" : "Choose a policy…"}</option>
            {(policies.data?.data ?? []).map((p) => (
              <option key={p.id} value={p.id}>
                {p.name} ({p.interval ? `every ${p.interval}` : policyCadence(p)})
              </option>
            ))}
          </select>
        </Field>
        {form.provider && (
          <>
            <Field label="Grace period" hint="How long the old credential stays valid after a rotation, e.g. 1h or 0s. Empty: the policy's, else 48h.">
              <input name="grace_period" value={form.gracePeriod} onInput={(e) => set({ gracePeriod: e.currentTarget.value })} />
            </Field>
            <Field label="Attempts per step" hint="A failing step is retried with backoff up to this many times (1 to 10).">
              <input name="max_attempts" type="number" min={1} max={10} value={form.maxAttempts} onInput={(e) => set({ maxAttempts: e.currentTarget.value })} />
            </Field>
          </>
        )}
      </fieldset>
      {form.provider && (
        <fieldset>
          <legend>Propagation check (optional)</legend>
          <p class="hint">A GET that must answer the expected status before the old credential is revoked.</p>
          <Field label="Check URL">
            <input name="check_url" type="url" value={form.checkUrl} onInput={(e) => set({ checkUrl: e.currentTarget.value })} />
          </Field>
          <Field label="Expected status" hint="Default 200.">
            <input name="check_status" type="number" min={100} max={599} value={form.checkStatus} onInput={(e) => set({ checkStatus: e.currentTarget.value })} />
          </Field>
          <Field label="Check timeout" hint="Default 5s.">
            <input name="check_timeout" value={form.checkTimeout} onInput={(e) => set({ checkTimeout: e.currentTarget.value })} />
          </Field>
        </fieldset>
      )}
      <ErrorBox error={policies.error} />
      <ErrorBox error={call.error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={call.busy || (form.provider === "" && !form.policyId)}>
          {existing ? "Save settings" : "Enable rotation"}
        </button>
        {onCancel && (
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

/** The secret's provider rotation runs, newest first, each with its steps, attempts and errors. */
function RunHistory({ path, rev }: { path: string; rev: number }) {
  const { session } = useApp();
  const pages = useKeysetPages(path);
  const { data, error, loading } = useLoad(() => session.client.rotation.listRotationRuns({ path, limit: 10, cursor: pages.cursor }), [session, path, pages.cursor, rev]);
  return (
    <section class="runs" aria-labelledby="runs-title">
      <h2 id="runs-title">Rotation runs</h2>
      <ErrorBox error={error} />
      {loading && !data ? (
        <Loading what="rotation runs" />
      ) : data && data.data.length === 0 ? (
        <Empty>No rotation has run yet. Rotate now, or wait for the schedule.</Empty>
      ) : (
        data && (
          <>
            <ol class="run-list">
              {data.data.map((r, i) => (
                <li key={r.id} class={`run run-${r.status}`}>
                  <details open={i === 0 && pages.page === 1}>
                    <summary>
                      <RunStatus status={r.status} /> <code>{r.id}</code> · {r.triggeredBy} by {r.actor} · {when(r.startedAt)} · version {r.oldVersion ?? "—"} → {r.newVersion ?? "—"}
                    </summary>
                    <dl class="meta">
                      <dt>Step</dt>
                      <dd class="run-step">{r.step}</dd>
                      <dt>Attempts</dt>
                      <dd>{r.attempts}</dd>
                      {r.revokeAt && (
                        <>
                          <dt>Old credential revoked</dt>
                          <dd>{r.status === "waiting_grace" ? `after ${when(r.revokeAt)}` : when(r.revokeAt)}</dd>
                        </>
                      )}
                      <dt>Finished</dt>
                      <dd>{when(r.finishedAt)}</dd>
                      {r.providerResponse && (
                        <>
                          <dt>Provider answered</dt>
                          <dd>{r.providerResponse}</dd>
                        </>
                      )}
                      {r.error && (
                        <>
                          <dt>Error</dt>
                          <dd class="run-error">{r.error}</dd>
                        </>
                      )}
                    </dl>
                    {r.steps.length > 0 && (
                      <div class="table-wrap">
                        <table class="steps">
                          <caption class="visually-hidden">Steps of run {r.id}</caption>
                          <thead>
                            <tr>
                              <th scope="col">Step</th>
                              <th scope="col">Result</th>
                              <th scope="col">Attempt</th>
                              <th scope="col">At</th>
                              <th scope="col">Detail</th>
                            </tr>
                          </thead>
                          <tbody>
                            {r.steps.map((s, j) => (
                              <tr key={j} class={s.status === "failed" ? "step-failed" : undefined}>
                                <td class="step-name">{s.step}</td>
                                <td>
                                  <Badge tone={s.status === "succeeded" ? "ok" : s.status === "failed" ? "bad" : "info"}>{s.status}</Badge>
                                </td>
                                <td>{s.attempt}</td>
                                <td>{when(s.at)}</td>
                                <td class="step-detail">{s.detail}</td>
                              </tr>
                            ))}
                          </tbody>
                        </table>
                      </div>
                    )}
                  </details>
                </li>
              ))}
            </ol>
            <Pager page={pages.page} hasMore={data.hasMore} nextCursor={data.cursor} pages={pages} />
          </>
        )
      )}
    </section>
  );
}
