import { useState } from "preact/hooks";
import type { SecretMetadata } from "../api.js";
import { useApp } from "../app-context.js";
import { ErrorBox, Field, useCall, useLoad, when } from "../components.js";
import { href } from "../router.js";

/**
 * Rotation of one secret under a rotation policy: enable (assign), rotate now, detach. Provider
 * rotation bindings will sit beside this panel on the secret page once the API has them.
 */
export function SecretRotationPanel({ path, metadata, onChange }: { path: string; metadata: SecretMetadata; onChange: () => void }) {
  const { session } = useApp();
  const rotation = session.client.rotation;
  const policies = useLoad(() => rotation.listRotationPolicies({ activeOnly: true, limit: 100 }), [session]);
  const [policyId, setPolicyId] = useState("");
  const [notice, setNotice] = useState<string>();
  const call = useCall();
  const current = metadata.rotationPolicy;

  async function act(fn: () => Promise<unknown>, done: string) {
    setNotice(undefined);
    if ((await call.run(fn)) !== undefined) {
      setNotice(done);
      onChange();
    }
  }

  return (
    <div class="card" role="region" aria-label="Rotation">
      {current ? (
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
            <button type="button" disabled={call.busy} onClick={() => act(() => rotation.detachSecret({ id: current.id, secretPath: path }), "Rotation disabled for this secret.")}>
              Disable rotation
            </button>
          </div>
        </>
      ) : (
        <form
          class="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            if (policyId) void act(() => rotation.assignSecret({ id: policyId, secretPath: path }), "Rotation enabled.");
          }}
        >
          <Field label="Rotation policy">
            <select name="rotation_policy" value={policyId} onChange={(e) => setPolicyId(e.currentTarget.value)} required>
              <option value="">Choose a policy…</option>
              {(policies.data?.data ?? []).map((p) => (
                <option key={p.id} value={p.id}>
                  {p.name} (every {p.interval})
                </option>
              ))}
            </select>
          </Field>
          <button type="submit" disabled={call.busy || !policyId}>
            Enable rotation
          </button>
        </form>
      )}
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      <ErrorBox error={policies.error} />
      <ErrorBox error={call.error} />
    </div>
  );
}
