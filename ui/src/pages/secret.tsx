import { useState } from "preact/hooks";
import type { JsonValue, Secret, Timestamp } from "../api.js";
import { useApp } from "../app-context.js";
import { Badge, Empty, ErrorBox, Loading, useCall, useLoad, when } from "../components.js";
import { href, navigate } from "../router.js";
import { SecretRotationPanel } from "./secret-rotation.js";

/** A value as text: strings as they are, anything else as JSON. */
export function valueText(v: JsonValue | undefined): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

/**
 * A version's stage: `current`, `pending` (issued by a provider rotation, not yet promoted),
 * `previous` (readable through the grace period) or `deprecated` (older).
 */
function VersionStage({ stage, readableUntil }: { stage: string; readableUntil: Timestamp | undefined }) {
  switch (stage) {
    case "current":
      return <Badge tone="ok">current</Badge>;
    case "pending":
      return <Badge tone="info">pending</Badge>;
    case "previous":
      return <Badge tone="info">previous{readableUntil ? `, readable until ${when(readableUntil)}` : ""}</Badge>;
    default:
      return <Badge tone="off">{stage || "older"}</Badge>;
  }
}

/** One secret: metadata, versions, masked values (each Reveal is a normal, audited read), actions. */
export function SecretPage({ path }: { path: string }) {
  const { session, failingRotations } = useApp();
  const client = session.client;
  const { data, error, loading, reload } = useLoad(async () => {
    const [metadata, versions] = await Promise.all([client.secrets.getSecretMetadata({ path }), client.secrets.listSecretVersions({ path })]);
    return { metadata, versions: versions.versions };
  }, [session, path]);
  const action = useCall();
  const [revealed, setRevealed] = useState<Secret>();
  const [notice, setNotice] = useState<string>();
  const [deleted, setDeleted] = useState(false);

  async function reveal(version?: number) {
    const secret = await action.run(() => client.secrets.getSecret({ path, version }));
    if (secret) setRevealed(secret);
  }
  async function copy(key: string, value: string) {
    try {
      await navigator.clipboard.writeText(value);
      setNotice(`Copied ${key} to the clipboard.`);
    } catch {
      setNotice("The browser did not allow copying to the clipboard.");
    }
  }
  async function softDelete() {
    if (!confirm(`Delete ${path}? It can be restored until the retention period ends.`)) return;
    const res = await action.run(() => client.secrets.deleteSecret({ path }));
    if (res) {
      setDeleted(true);
      setRevealed(undefined);
      setNotice(`Deleted ${path}${res.recoverableUntil ? `; restorable until ${when(res.recoverableUntil)}` : ""}.`);
    }
  }
  async function restore() {
    const res = await action.run(() => client.secrets.restoreSecret({ path }));
    if (res) {
      setDeleted(false);
      setNotice(`Restored ${path} at version ${res.version}.`);
      void reload();
    }
  }
  async function destroyVersion(version: number) {
    if (!confirm(`Destroy version ${version} of ${path} for good? This cannot be undone.`)) return;
    const res = await action.run(() => client.secrets.deleteSecret({ path, permanent: true, version }));
    if (res) {
      setNotice(`Destroyed version ${version}.`);
      if (revealed?.version === version) setRevealed(undefined);
      void reload();
    }
  }

  const m = data?.metadata;
  return (
    <section aria-labelledby="secret-title">
      <p class="back">
        <a href={href("/secrets", { prefix: path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "" })}>← Secrets</a>
      </p>
      <div class="page-head">
        <h1 id="secret-title" class="path-title">
          {path} {failingRotations?.has(path) && <Badge tone="bad">rotation failing</Badge>}
        </h1>
        {m && !deleted && (
          <div class="actions">
            <a class="button" href={href("/secret/edit", { path })}>
              Edit
            </a>
            <button type="button" class="danger" onClick={softDelete} disabled={action.busy}>
              Delete
            </button>
          </div>
        )}
      </div>
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={action.error} />
      {deleted && (
        <p>
          <button type="button" class="primary" onClick={restore} disabled={action.busy}>
            Restore
          </button>
        </p>
      )}
      {loading && <Loading what="the secret" />}
      <ErrorBox error={error} />
      {m && !deleted && (
        <>
          <dl class="meta">
            <dt>Type</dt>
            <dd>{m.secretType}</dd>
            <dt>Current version</dt>
            <dd class="current-version">{m.currentVersion}</dd>
            <dt>Description</dt>
            <dd>{m.metadata?.description || "—"}</dd>
            <dt>Tags</dt>
            <dd>{m.metadata?.tags.length ? m.metadata.tags.map((t) => <Badge key={t} tone="info">{t}</Badge>) : "—"}</dd>
            <dt>Owner</dt>
            <dd>{m.metadata?.owner || "—"}</dd>
            <dt>Expires</dt>
            <dd>{when(m.expiresAt)}</dd>
            <dt>Reads (30 days)</dt>
            <dd>{m.accessCount30d}</dd>
            <dt>Last read</dt>
            <dd>{when(m.lastAccessedAt)}</dd>
            <dt>Rotation policy</dt>
            <dd>
              {m.rotationPolicy ? (
                <>
                  <a href={href("/rotation/policy", { id: m.rotationPolicy.id })}>{m.rotationPolicy.id}</a>, next {when(m.rotationPolicy.nextRotation)}
                </>
              ) : (
                "none"
              )}
            </dd>
            <dt>Keeps versions</dt>
            <dd>{m.maxVersions}</dd>
            <dt>Created</dt>
            <dd>{when(m.createdAt)}</dd>
            <dt>Updated</dt>
            <dd>{when(m.updatedAt)}</dd>
          </dl>

          <h2>Rotation</h2>
          <SecretRotationPanel path={path} metadata={m} onChange={() => void reload()} />

          <h2>Value {revealed && <span class="muted">(version {revealed.version})</span>}</h2>
          {revealed ? (
            <>
              <table class="kv">
                <thead>
                  <tr>
                    <th scope="col">Key</th>
                    <th scope="col">Value</th>
                    <th scope="col">
                      <span class="visually-hidden">Copy</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {Object.entries(revealed.data ?? {}).map(([k, v]) => (
                    <tr key={k}>
                      <th scope="row">{k}</th>
                      <td>
                        <code class="secret-value">{valueText(v)}</code>
                      </td>
                      <td>
                        <button type="button" onClick={() => copy(k, valueText(v))}>
                          Copy<span class="visually-hidden"> {k}</span>
                        </button>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
              <button type="button" onClick={() => setRevealed(undefined)}>
                Hide
              </button>
            </>
          ) : (
            <>
              <p class="masked" aria-label="Value hidden">
                ••••••••••••
              </p>
              <button type="button" class="primary reveal" onClick={() => reveal()} disabled={action.busy}>
                Reveal
              </button>
              <p class="hint">Each reveal is a read of the secret and is recorded in the audit log.</p>
            </>
          )}

          <h2>Versions</h2>
          {data.versions.length === 0 ? (
            <Empty>No readable versions.</Empty>
          ) : (
            <div class="table-wrap">
              <table class="versions">
                <thead>
                  <tr>
                    <th scope="col">Version</th>
                    <th scope="col">Stage</th>
                    <th scope="col">Created</th>
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {data.versions.map((v) => (
                    <tr key={v.version}>
                      <td>{v.version}</td>
                      <td class="version-stage">
                        <VersionStage stage={v.stage || (v.isCurrent ? "current" : "")} readableUntil={v.readableUntil} />
                      </td>
                      <td>{when(v.createdAt)}</td>
                      <td class="row-actions">
                        <button type="button" onClick={() => reveal(v.version)} disabled={action.busy}>
                          Reveal<span class="visually-hidden"> version {v.version}</span>
                        </button>
                        {!v.isCurrent && (
                          <button type="button" class="danger" onClick={() => destroyVersion(v.version)} disabled={action.busy}>
                            Destroy<span class="visually-hidden"> version {v.version}</span>
                          </button>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <p>
            <a href={href("/audit", { path })}>Audit log of this secret</a>
          </p>
        </>
      )}
      {!m && !loading && !deleted && (
        <p>
          <button type="button" onClick={restore} disabled={action.busy}>
            Restore a deleted secret at this path
          </button>{" "}
          <button type="button" onClick={() => navigate("/secrets")}>
            Back to the list
          </button>
        </p>
      )}
    </section>
  );
}
