import type { ReactNode } from "react";
import { useSession } from "../app/session";
import "./screens.css";

export interface Crumb {
  label: string;
  href?: string;
}

/** The frame of the non-canvas screens: top bar (brand, workspace, user), breadcrumbs, content. */
export function Layout({ crumbs, actions, children }: { crumbs: Crumb[]; actions?: ReactNode; children: ReactNode }) {
  const { me, logout } = useSession();
  const who = me.name || me.email || (me.kind === "token" ? "API token" : "you");
  return (
    <div className="scr-layout">
      <header className="scr-topbar">
        <a className="scr-brand" href="#/projects">Plait</a>
        <span className="scr-workspace" title="Workspace">{me.workspace_name}</span>
        <span className="scr-spacer" />
        <span className="scr-user" data-testid="current-user">
          {who} <span className="muted small">· {me.role}</span>
        </span>
        <button type="button" onClick={() => void logout()}>Log out</button>
      </header>
      <div className="scr-page">
        <div className="scr-pagehead">
          <nav aria-label="Breadcrumbs" className="scr-crumbs">
            <ol>
              {crumbs.map((crumb, i) => (
                <li key={i}>
                  {crumb.href && i < crumbs.length - 1 ? (
                    <a href={crumb.href}>{crumb.label}</a>
                  ) : (
                    <span aria-current={i === crumbs.length - 1 ? "page" : undefined}>{crumb.label}</span>
                  )}
                </li>
              ))}
            </ol>
          </nav>
          {actions && <div className="scr-pageactions">{actions}</div>}
        </div>
        <main className="scr-content">{children}</main>
      </div>
    </div>
  );
}
