import { useCallback, useEffect, useMemo, useState } from "react";
import { authLogout, authMe, type Me } from "../api/generated";
import { ApiError, setUnauthorizedHandler } from "../api/http";
import { FlowEditor } from "../canvas/FlowEditor";
import { Login } from "../screens/Login";
import { ProjectScreen } from "../screens/ProjectScreen";
import { ProjectsScreen } from "../screens/ProjectsScreen";
import { RunHistoryScreen } from "../screens/RunHistoryScreen";
import { navigate, useRoute } from "./navigation";
import { SessionContext, type Session } from "./session";

type AuthState = { state: "checking" } | { state: "out" } | { state: "in"; me: Me };

export function App() {
  const route = useRoute();
  const [auth, setAuth] = useState<AuthState>({ state: "checking" });
  const [error, setError] = useState<string | null>(null);

  const check = useCallback(async () => {
    try {
      setAuth({ state: "in", me: await authMe() });
      setError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setAuth({ state: "out" });
      else setError(e instanceof Error ? e.message : String(e));
    }
  }, []);

  useEffect(() => {
    setUnauthorizedHandler(() => setAuth({ state: "out" }));
    void check();
    return () => setUnauthorizedHandler(null);
  }, [check]);

  const session = useMemo<Session | null>(
    () =>
      auth.state === "in"
        ? {
            me: auth.me,
            logout: async () => {
              await authLogout().catch(() => undefined);
              setAuth({ state: "out" });
              navigate({ name: "login" });
            },
          }
        : null,
    [auth],
  );

  if (error) {
    return (
      <div className="center-screen">
        <div className="card" role="alert">
          <h2>Plait is not reachable</h2>
          <p>{error}</p>
          <button onClick={() => void check()}>Try again</button>
        </div>
      </div>
    );
  }
  if (auth.state === "checking") return <div className="center-screen muted">Loading…</div>;
  if (auth.state === "out" || !session) {
    return (
      <Login
        onLoggedIn={(me) => {
          setAuth({ state: "in", me });
          if (route.name === "login") navigate({ name: "projects" }, { replace: true });
        }}
      />
    );
  }
  return (
    <SessionContext.Provider value={session}>
      <Screen />
    </SessionContext.Provider>
  );

  function Screen() {
    switch (route.name) {
      case "login":
      case "projects":
        return <ProjectsScreen />;
      case "project":
        return <ProjectScreen projectId={route.projectId} tab={route.tab} />;
      case "flow":
        return <FlowEditor key={route.flowId} flowId={route.flowId} runId={route.runId} />;
      case "runs":
        return <RunHistoryScreen flowId={route.flowId} />;
      case "not-found":
        return (
          <div className="center-screen">
            <div className="card">
              <h2>Nothing here</h2>
              <p>
                There is no screen at <code>{route.path}</code>. <a href="#/projects">Go to projects</a>
              </p>
            </div>
          </div>
        );
    }
  }
}
