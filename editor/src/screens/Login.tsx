import { useState, type FormEvent } from "react";
import { authLogin, type Me } from "../api/generated";
import { ApiError } from "../api/http";

/** Email and password, or the one-time link `plait serve` prints (it sets the cookie itself). */
export function Login({ onLoggedIn }: { onLoggedIn: (me: Me) => void }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLoggedIn(await authLogin({ email, password }));
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="center-screen">
      <form className="card login" onSubmit={submit} aria-label="Log in">
        <h1 className="brand">Plait</h1>
        <label>
          Email
          <input type="email" autoComplete="username" value={email} required autoFocus
            onChange={(e) => setEmail(e.target.value)} />
        </label>
        <label>
          Password
          <input type="password" autoComplete="current-password" value={password} required
            onChange={(e) => setPassword(e.target.value)} />
        </label>
        {error && <p className="error" role="alert">{error}</p>}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
        <p className="muted small">
          First time here? Open the one-time login link that <code>plait serve</code> printed in
          its terminal; every start prints a fresh one.
        </p>
      </form>
    </div>
  );
}
