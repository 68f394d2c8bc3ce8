import { render } from "preact";
import { useCallback, useEffect, useMemo, useRef, useState } from "preact/hooks";
import { isScaiVaultError } from "./api.js";
import { AppCtx, type AppContext } from "./app-context.js";
import { ErrorBox, Field } from "./components.js";
import { href, navigate, useLocation } from "./router.js";
import { routes } from "./routes.js";
import { forgetSession, isExpired, openSession, restoreSession, saveSession, type Session } from "./session.js";

function SignIn({ message, onSignedIn }: { message?: string; onSignedIn: (s: Session) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  async function submit(e: Event) {
    e.preventDefault();
    setError(undefined);
    const trimmed = token.trim().replace(/^Bearer\s+/i, "");
    let session: Session;
    try {
      session = openSession(trimmed);
    } catch (err) {
      setError(err);
      return;
    }
    if (isExpired(session.identity)) {
      setError(new Error(`This token expired at ${session.identity.expiresAt!.toLocaleString()}. Mint a new one.`));
      return;
    }
    setBusy(true);
    try {
      // One cheap call proves the service accepts the token; a token without secrets:read is still valid.
      await session.client.secrets.listSecrets({ limit: 1 });
    } catch (err) {
      if (!(isScaiVaultError(err) && err.code === "access_denied")) {
        setBusy(false);
        setError(err);
        return;
      }
    }
    setBusy(false);
    onSignedIn(session);
  }
  return (
    <main class="signin" id="main">
      <h1>ScaiVault console</h1>
      {message && (
        <p class="notice" role="alert">
          {message}
        </p>
      )}
      <form onSubmit={submit}>
        <Field label="Access token" hint="Paste a bearer token (JWT). It is kept in this tab's session storage only and forgotten when the tab closes.">
          <textarea name="token" rows={5} required autoComplete="off" spellcheck={false} value={token} onInput={(e) => setToken(e.currentTarget.value)} />
        </Field>
        <ErrorBox error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}

function WhoAmI({ session, onTenant, onSignOut }: { session: Session; onTenant: (t: string) => void; onSignOut: () => void }) {
  const id = session.identity;
  const [tenant, setTenant] = useState(session.targetTenant ?? "");
  return (
    <details class="whoami">
      <summary>
        <span class="who">{id.subject}</span> · tenant <strong class="tenant">{session.targetTenant ?? id.tenantId}</strong>
      </summary>
      <div class="whoami-panel">
        <dl>
          <dt>Subject</dt>
          <dd>{id.subject}</dd>
          <dt>Token tenant</dt>
          <dd>{id.tenantId}</dd>
          {id.partnerId && (
            <>
              <dt>Partner</dt>
              <dd>
                {id.partnerId}
                {id.partnerAdmin ? " (partner admin)" : ""}
              </dd>
            </>
          )}
          <dt>Scopes</dt>
          <dd class="scopes">{id.scopes.join(" ") || "(none)"}</dd>
          <dt>Expires</dt>
          <dd>{id.expiresAt ? id.expiresAt.toLocaleString() : "never"}</dd>
        </dl>
        {id.partnerAdmin && (
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              onTenant(tenant.trim());
            }}
          >
            <Field label="Act on tenant" hint="Empty for your own tenant.">
              <input name="tenant" value={tenant} onInput={(e) => setTenant(e.currentTarget.value)} />
            </Field>
            <button type="submit">Switch</button>
          </form>
        )}
        <button type="button" class="sign-out" onClick={onSignOut}>
          Sign out
        </button>
      </div>
    </details>
  );
}

/** A page of failing provider rotations: the paths, and whether there are more than one page holds. */
interface Failing {
  paths: ReadonlySet<string>;
  more: boolean;
}

/**
 * Counts the failing provider rotations on every navigation and whenever a page says it changed
 * one. Not on a timer: each list call is an audited read, and a tab left open should not fill the
 * audit log. A token that may not list rotations simply shows no counter.
 */
function useFailingRotations(session: Session, loc: unknown) {
  const [failing, setFailing] = useState<Failing>();
  const [changes, setChanges] = useState(0);
  const rotationChanged = useCallback(() => setChanges((n) => n + 1), []);
  useEffect(() => {
    let live = true;
    session.client.rotation.listSecretRotations({ status: "failing", limit: 100 }).then(
      (res) => live && setFailing({ paths: new Set(res.data.map((b) => b.path)), more: res.hasMore }),
      () => live && setFailing(undefined),
    );
    return () => {
      live = false;
    };
  }, [session, loc, changes]);
  return { failing, rotationChanged };
}

function FailingCounter({ failing }: { failing: Failing | undefined }) {
  const n = failing?.paths.size ?? 0;
  return (
    <span class="failing-slot" role="status" aria-live="polite">
      {n > 0 && (
        <a class="failing-count" href={href("/rotation/secrets", { status: "failing" })}>
          {n}
          {failing!.more ? "+" : ""} failing rotation{n === 1 && !failing!.more ? "" : "s"}
        </a>
      )}
    </span>
  );
}

function Shell({ session, setSession, signOut }: { session: Session; setSession: (s: Session) => void; signOut: (reason?: string) => void }) {
  const loc = useLocation();
  const route = routes.find((r) => r.path === loc.path);
  const active = route?.section ?? route?.path;
  const { failing, rotationChanged } = useFailingRotations(session, loc);
  const failingRotations = failing?.paths;
  const ctx = useMemo<AppContext>(() => ({ session, signOut, failingRotations, rotationChanged }), [session, signOut, failingRotations, rotationChanged]);
  const main = useRef<HTMLElement>(null);
  // Moves focus to the page on navigation, so keyboard and screen-reader users start at its top.
  useEffect(() => main.current?.focus(), [loc.path]);
  return (
    <AppCtx.Provider value={ctx}>
      <a class="skip" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href("/secrets")}>
          ScaiVault
        </a>
        <nav aria-label="Main">
          <ul>
            {routes
              .filter((r) => r.nav)
              .map((r) => (
                <li key={r.path}>
                  <a href={href(r.path)} aria-current={active === r.path ? "page" : undefined}>
                    {r.nav}
                  </a>
                </li>
              ))}
          </ul>
        </nav>
        <FailingCounter failing={failing} />
        <WhoAmI
          session={session}
          onTenant={(t) => setSession(openSession(session.token, t && t !== session.identity.tenantId ? t : undefined))}
          onSignOut={() => signOut()}
        />
      </header>
      <main id="main" ref={main} tabIndex={-1} key={`${session.targetTenant ?? ""}`}>
        {route ? route.render(loc.query) : <p>No such page. <a href={href("/secrets")}>Go to secrets</a>.</p>}
      </main>
    </AppCtx.Provider>
  );
}

function App() {
  const [session, setSessionState] = useState<Session | undefined>(restoreSession);
  const [message, setMessage] = useState<string>();
  const setSession = useCallback((s: Session) => {
    saveSession(s);
    setSessionState(s);
  }, []);
  const signOut = useCallback((reason?: string) => {
    forgetSession();
    setSessionState(undefined);
    setMessage(reason ?? "You signed out.");
  }, []);
  // The token's own expiry ends the session even before a call is refused.
  useEffect(() => {
    if (!session?.identity.expiresAt) return;
    const check = () => {
      if (isExpired(session.identity)) signOut(`Your token expired at ${session.identity.expiresAt!.toLocaleString()}. Paste a new one to continue.`);
    };
    check();
    const timer = setInterval(check, 5000);
    return () => clearInterval(timer);
  }, [session, signOut]);
  if (!session) {
    return (
      <SignIn
        message={message}
        onSignedIn={(s) => {
          setMessage(undefined);
          setSession(s);
          if (!location.hash) navigate("/secrets");
        }}
      />
    );
  }
  return <Shell session={session} setSession={setSession} signOut={signOut} />;
}

const root = document.getElementById("app")!;
root.textContent = ""; // drop the static "Loading" placeholder before the first render
render(<App />, root);
