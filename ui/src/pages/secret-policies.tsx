import { useState } from "preact/hooks";
import type { SecretPolicy } from "../api.js";
import { useApp } from "../app-context.js";
import { Empty, ErrorBox, Field, Loading, PagedTable, splitList, useCall, useKeysetPages, useLoad } from "../components.js";

interface PolicyForm {
  name: string;
  description: string;
  length: string;
  charset: string;
  excludeChars: string;
  fields: string;
  requireUppercase: boolean;
  requireLowercase: boolean;
  requireDigits: boolean;
  requireSymbols: boolean;
}

const blank: PolicyForm = { name: "", description: "", length: "32", charset: "alphanumeric", excludeChars: "", fields: "", requireUppercase: false, requireLowercase: false, requireDigits: false, requireSymbols: false };

function formOf(p: SecretPolicy): PolicyForm {
  return {
    name: p.name,
    description: p.description ?? "",
    length: String(p.length),
    charset: p.charset,
    excludeChars: p.excludeChars ?? "",
    fields: p.fields.join(", "),
    requireUppercase: p.requireUppercase,
    requireLowercase: p.requireLowercase,
    requireDigits: p.requireDigits,
    requireSymbols: p.requireSymbols,
  };
}

const checks = [
  ["requireUppercase", "Require uppercase"],
  ["requireLowercase", "Require lowercase"],
  ["requireDigits", "Require digits"],
  ["requireSymbols", "Require symbols"],
] as const;

/** Generation rules for new values (used by rotation policies and generated secrets). */
export function SecretPoliciesPage() {
  const { session } = useApp();
  const api = session.client.secretPolicies;
  const pages = useKeysetPages("");
  const { data, error, loading, reload } = useLoad(() => api.listSecretPolicies({ limit: 50, cursor: pages.cursor }), [session, pages.cursor]);
  const [editing, setEditing] = useState<{ id?: string; form: PolicyForm }>();
  const call = useCall();

  async function save(e: Event) {
    e.preventDefault();
    if (!editing) return;
    const f = editing.form;
    const common = {
      description: f.description || undefined,
      length: Number(f.length) || undefined,
      charset: f.charset || undefined,
      excludeChars: f.excludeChars || undefined,
      requireUppercase: f.requireUppercase,
      requireLowercase: f.requireLowercase,
      requireDigits: f.requireDigits,
      requireSymbols: f.requireSymbols,
    };
    const ok = editing.id
      ? await call.run(() => api.updateSecretPolicy({ id: editing.id!, ...common, fields: { values: splitList(f.fields).map((v) => ({ kind: { case: "stringValue" as const, value: v } })) } }))
      : await call.run(() => api.createSecretPolicy({ name: f.name, ...common, fields: splitList(f.fields) }));
    if (ok) {
      setEditing(undefined);
      void reload();
    }
  }
  async function remove(p: SecretPolicy) {
    if (!confirm(`Delete secret policy ${p.name}?`)) return;
    if (await call.run(() => api.deleteSecretPolicy({ id: p.id }))) void reload();
  }
  const set = (patch: Partial<PolicyForm>) => editing && setEditing({ ...editing, form: { ...editing.form, ...patch } });

  return (
    <section aria-labelledby="sp-title">
      <div class="page-head">
        <h1 id="sp-title">Secret policies</h1>
        <button type="button" class="primary" onClick={() => setEditing({ form: blank })}>
          New secret policy
        </button>
      </div>
      <ErrorBox error={call.error} />
      {editing && (
        <form class="card" onSubmit={save} aria-label={editing.id ? "Edit secret policy" : "New secret policy"}>
          {!editing.id && (
            <Field label="Name">
              <input name="name" required value={editing.form.name} onInput={(e) => set({ name: e.currentTarget.value })} />
            </Field>
          )}
          <Field label="Description">
            <input name="description" value={editing.form.description} onInput={(e) => set({ description: e.currentTarget.value })} />
          </Field>
          <Field label="Length">
            <input name="length" type="number" min={1} value={editing.form.length} onInput={(e) => set({ length: e.currentTarget.value })} />
          </Field>
          <Field label="Character set">
            <input name="charset" value={editing.form.charset} onInput={(e) => set({ charset: e.currentTarget.value })} />
          </Field>
          <Field label="Exclude characters">
            <input name="exclude_chars" value={editing.form.excludeChars} onInput={(e) => set({ excludeChars: e.currentTarget.value })} />
          </Field>
          <Field label="Fields" hint="Comma-separated keys to generate; empty for the default.">
            <input name="fields" value={editing.form.fields} onInput={(e) => set({ fields: e.currentTarget.value })} />
          </Field>
          {checks.map(([key, label]) => (
            <label class="check" key={key}>
              <input type="checkbox" checked={editing.form[key]} onChange={(e) => set({ [key]: e.currentTarget.checked })} /> {label}
            </label>
          ))}
          <div class="actions">
            <button type="submit" class="primary" disabled={call.busy}>
              Save secret policy
            </button>
            <button type="button" onClick={() => setEditing(undefined)}>
              Cancel
            </button>
          </div>
        </form>
      )}
      <ErrorBox error={error} />
      {loading ? (
        <Loading what="secret policies" />
      ) : data && data.data.length === 0 ? (
        <Empty>No secret policies yet.</Empty>
      ) : (
        data && (
          <>
            <PagedTable
              headings={["Name", "Length", "Charset", "Fields", <span class="visually-hidden">Actions</span>]}
              items={data.data}
              page={data}
              pages={pages}
              row={(p) => (
                <tr key={p.id}>
                  <td>{p.name}</td>
                  <td>{p.length}</td>
                  <td>{p.charset}</td>
                  <td>{p.fields.join(", ")}</td>
                  <td class="row-actions">
                    <button type="button" onClick={() => setEditing({ id: p.id, form: formOf(p) })}>
                      Edit<span class="visually-hidden"> {p.name}</span>
                    </button>
                    <button type="button" class="danger" onClick={() => remove(p)}>
                      Delete<span class="visually-hidden"> {p.name}</span>
                    </button>
                  </td>
                </tr>
              )}
            />
          </>
        )
      )}
    </section>
  );
}
