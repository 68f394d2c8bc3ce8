import { useEffect, useState } from "preact/hooks";
import { isScaiVaultError, type JsonObject } from "../api.js";
import { useApp } from "../app-context.js";
import { ErrorBox, Field, Loading, splitList, useCall } from "../components.js";
import { navigate } from "../router.js";
import { valueText } from "./secret.js";
import { secretTypes } from "./secrets.js";

interface Row {
  key: string;
  value: string;
}

function rowsOf(data: JsonObject): Row[] {
  return Object.entries(data).map(([key, v]) => ({ key, value: valueText(v) }));
}

function dataOf(rows: Row[]): JsonObject {
  const data: JsonObject = {};
  for (const r of rows) if (r.key.trim()) data[r.key.trim()] = r.value;
  return data;
}

/**
 * Creates a secret (no `path`) or writes a new version of one. Writes carry `options.cas` (the
 * version the form was loaded from, or 0 to create only), so a concurrent edit is refused.
 */
export function SecretEditPage({ path: editPath, prefix }: { path?: string; prefix?: string }) {
  const { session } = useApp();
  const client = session.client;
  const creating = !editPath;
  const call = useCall();
  const [loaded, setLoaded] = useState(creating);
  const [baseVersion, setBaseVersion] = useState(0);
  const [path, setPath] = useState(editPath ?? prefix ?? "");
  const [type, setType] = useState("kv");
  const [rows, setRows] = useState<Row[]>([{ key: "", value: "" }]);
  const [raw, setRaw] = useState<string>();
  const [description, setDescription] = useState("");
  const [tags, setTags] = useState("");
  const [owner, setOwner] = useState("");
  const [expiresIn, setExpiresIn] = useState("");
  const [original, setOriginal] = useState({ description: "", tags: "", owner: "" });
  const [conflict, setConflict] = useState<string>();

  async function load() {
    if (!editPath) return;
    const secret = await call.run(() => client.secrets.getSecret({ path: editPath }));
    if (!secret) return;
    setBaseVersion(secret.version);
    setType(secret.secretType);
    setRows(rowsOf(secret.data ?? {}));
    setRaw(undefined);
    const meta = { description: secret.metadata?.description ?? "", tags: (secret.metadata?.tags ?? []).join(", "), owner: secret.metadata?.owner ?? "" };
    setDescription(meta.description);
    setTags(meta.tags);
    setOwner(meta.owner);
    setOriginal(meta);
    setConflict(undefined);
    setLoaded(true);
  }
  useEffect(() => {
    void load();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [editPath, session]);

  function currentData(): JsonObject | undefined {
    if (raw === undefined) return dataOf(rows);
    try {
      const parsed = JSON.parse(raw) as unknown;
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as JsonObject;
    } catch {
      // reported below
    }
    call.setError(new Error("The raw JSON must be an object, e.g. {\"password\": \"…\"}."));
    return undefined;
  }

  async function save(e: Event) {
    e.preventDefault();
    setConflict(undefined);
    const data = currentData();
    if (!data) return;
    const metadata = { description: description || undefined, tags: splitList(tags), owner: owner || undefined };
    const result = await call.run(async () => {
      try {
        return await client.secrets.putSecret({
          path: path.trim(),
          data,
          secretType: type,
          metadata,
          options: { cas: baseVersion, expiresIn: expiresIn || undefined },
        });
      } catch (err) {
        if (isScaiVaultError(err) && (err.code === "version_conflict" || err.code === "secret_exists")) {
          setConflict(
            creating
              ? `A secret already exists at ${path}. Nothing was written. Open it and edit it instead.`
              : `Someone else saved ${path} after you opened it (you edited version ${baseVersion}). Your changes were NOT saved: reload to see the latest version, then edit again.`,
          );
        }
        throw err;
      }
    });
    if (!result) return;
    const metaChanged = !creating && (description !== original.description || tags !== original.tags || owner !== original.owner);
    if (metaChanged) {
      // A new version keeps the previous metadata unless the update says otherwise.
      const ok = await call.run(() => client.secrets.updateSecretMetadata({ path: path.trim(), metadata: { description, tags: { values: splitList(tags).map((t) => ({ kind: { case: "stringValue" as const, value: t } })) }, owner } }));
      if (!ok) return;
    }
    navigate("/secret", { path: path.trim() });
  }

  function toggleRaw() {
    if (raw === undefined) setRaw(JSON.stringify(dataOf(rows), null, 2));
    else {
      const data = currentData();
      if (data) {
        setRows(rowsOf(data));
        setRaw(undefined);
      }
    }
  }

  if (!loaded) {
    return (
      <section>
        <h1>Edit {editPath}</h1>
        {call.busy && <Loading what="the current value" />}
        <ErrorBox error={call.error} />
      </section>
    );
  }

  return (
    <section aria-labelledby="edit-title">
      <h1 id="edit-title">{creating ? "New secret" : `Edit ${editPath}`}</h1>
      {!creating && <p class="muted">Saving writes version {baseVersion + 1}, unless someone else saves first.</p>}
      <form class="secret-form" onSubmit={save}>
        <Field label="Path">
          <input name="path" required value={path} readOnly={!creating} onInput={(e) => setPath(e.currentTarget.value)} />
        </Field>
        <Field label="Type">
          <select name="secret_type" value={type} onChange={(e) => setType(e.currentTarget.value)}>
            {secretTypes.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </Field>
        <fieldset>
          <legend>Value</legend>
          <button type="button" onClick={toggleRaw}>
            {raw === undefined ? "Edit as raw JSON" : "Edit as key/value pairs"}
          </button>
          {raw === undefined ? (
            <div class="kv-editor">
              {rows.map((r, i) => (
                <div class="kv-row" key={i}>
                  <Field label={`Key ${i + 1}`}>
                    <input name={`key-${i}`} value={r.key} autoComplete="off" onInput={(e) => setRows(rows.map((x, j) => (j === i ? { ...x, key: e.currentTarget.value } : x)))} />
                  </Field>
                  <Field label={`Value ${i + 1}`}>
                    <input name={`value-${i}`} type="password" value={r.value} autoComplete="off" onInput={(e) => setRows(rows.map((x, j) => (j === i ? { ...x, value: e.currentTarget.value } : x)))} />
                  </Field>
                  <button type="button" onClick={() => setRows(rows.filter((_, j) => j !== i))} disabled={rows.length === 1}>
                    Remove<span class="visually-hidden"> key {i + 1}</span>
                  </button>
                </div>
              ))}
              <button type="button" onClick={() => setRows([...rows, { key: "", value: "" }])}>
                Add a key
              </button>
            </div>
          ) : (
            <Field label="Raw JSON">
              <textarea name="raw" rows={8} spellcheck={false} value={raw} onInput={(e) => setRaw(e.currentTarget.value)} />
            </Field>
          )}
        </fieldset>
        <Field label="Description">
          <input name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        </Field>
        <Field label="Tags" hint="Comma-separated.">
          <input name="tags" value={tags} onInput={(e) => setTags(e.currentTarget.value)} />
        </Field>
        <Field label="Owner">
          <input name="owner" value={owner} onInput={(e) => setOwner(e.currentTarget.value)} />
        </Field>
        <Field label="Expires in" hint="A duration such as 90d or 12h; empty for no expiry.">
          <input name="expires_in" value={expiresIn} onInput={(e) => setExpiresIn(e.currentTarget.value)} />
        </Field>
        {conflict && (
          <p class="conflict" role="alert">
            {conflict}
          </p>
        )}
        <ErrorBox error={call.error} />
        <div class="actions">
          <button type="submit" class="primary" disabled={call.busy}>
            {creating ? "Create" : "Save"}
          </button>
          {!creating && (
            <button type="button" onClick={() => load()} disabled={call.busy}>
              Reload latest
            </button>
          )}
          <button type="button" onClick={() => history.back()}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
