/** Team and roles: the tenant's members and their roles, pending invitations, invite someone. */
import { useState } from "react";
import { api } from "../../api/client";
import type { Invitation, Member, Role } from "../../api/settingsTypes";
import { formatIsoTime } from "../../format";
import { useAction, useProfile, useResource, useTimeZone } from "../../ui/hooks";
import { Empty, ErrorBox, Loading } from "../../ui/states";

const ROLES: { role: Role; what: string }[] = [
  { role: "owner", what: "everything, billing included" },
  { role: "admin", what: "members, keys and settings" },
  { role: "trader", what: "trade, backtest, keys" },
  { role: "viewer", what: "read only" },
];

function InviteForm({ onInvited }: { onInvited: () => void }) {
  const [email, setEmail] = useState("");
  const [role, setRole] = useState<Role>("trader");
  const [sent, setSent] = useState<string | null>(null);
  const action = useAction();
  const invite = async (event: React.FormEvent) => {
    event.preventDefault();
    const made = await action.run(() =>
      api<Invitation>("/api/v1/tenant/invitations", { method: "POST", body: { email: email.trim(), role } }),
    );
    if (made) {
      setSent(made.email);
      setEmail("");
      onInvited();
    }
  };
  return (
    <form className="panel form" onSubmit={invite} aria-labelledby="invite-title">
      <h2 id="invite-title">Invite</h2>
      <label className="field">
        <span>E-mail</span>
        <input type="email" required value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <div className="field">
        <label htmlFor="invite-role">Role</label>
        <select id="invite-role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {ROLES.map((r) => (
            <option key={r.role} value={r.role}>
              {r.role}: {r.what}
            </option>
          ))}
        </select>
      </div>
      <div className="row">
        <button type="submit" disabled={action.busy}>
          {action.busy ? "Inviting…" : "Send invitation"}
        </button>
      </div>
      {sent ? (
        <p role="status" className="muted">
          Invited {sent}: the invitation went out by e-mail.
        </p>
      ) : null}
      {action.error ? <ErrorBox error={action.error} /> : null}
    </form>
  );
}

export function TeamPage() {
  const timeZone = useTimeZone();
  const profile = useProfile();
  const members = useResource<{ items: Member[] }>("/api/v1/tenant/members");
  const invitations = useResource<{ items: Invitation[] }>("/api/v1/tenant/invitations");
  const action = useAction();
  const manages = profile?.role === "owner" || profile?.role === "admin";

  const changeRole = async (member: Member, role: Role) => {
    const done = await action.run(() =>
      api<Member>(`/api/v1/tenant/members/${encodeURIComponent(member.user_id)}`, { method: "PATCH", body: { role } }),
    );
    if (done) members.reload();
  };
  const withdraw = async (invitation: Invitation) => {
    if (!window.confirm(`Withdraw the invitation of ${invitation.email}?`)) return;
    await action.run(() => api<void>(`/api/v1/tenant/invitations/${encodeURIComponent(invitation.id)}`, { method: "DELETE" }));
    invitations.reload();
  };

  return (
    <section aria-labelledby="team-title" className="page">
      <header className="page-header">
        <h1 id="team-title">Team and roles</h1>
        <p className="muted">Everyone in your tenant and what they may do. You are {profile?.role ?? "…"}.</p>
      </header>
      <section aria-labelledby="members-title" className="panel">
        <h2 id="members-title">Members</h2>
        {members.error ? <ErrorBox error={members.error} retry={members.reload} /> : null}
        {members.loading && !members.data ? <Loading what="members" /> : null}
        {members.data?.items.length ? (
          <div className="table-wrap">
            <table className="table" data-testid="members-table">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">E-mail</th>
                  <th scope="col">Role</th>
                  <th scope="col">Since ({timeZone})</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {members.data.items.map((m) => (
                  <tr key={m.user_id} data-testid="member-row">
                    <td>{m.name || "—"}</td>
                    <td>{m.email}</td>
                    <td>
                      {manages && m.user_id !== profile?.user_id ? (
                        <select
                          aria-label={`Role of ${m.email}`}
                          value={m.role}
                          disabled={action.busy}
                          onChange={(e) => void changeRole(m, e.target.value as Role)}
                        >
                          {ROLES.map((r) => (
                            <option key={r.role}>{r.role}</option>
                          ))}
                        </select>
                      ) : (
                        <span data-testid="member-role">{m.role}</span>
                      )}
                    </td>
                    <td className="nowrap">{formatIsoTime(m.created_at, timeZone)}</td>
                    <td>{!m.is_active ? "disabled" : m.email_verified ? "active" : "e-mail not verified"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
        {action.error ? <ErrorBox error={action.error} /> : null}
      </section>
      {manages ? <InviteForm onInvited={invitations.reload} /> : null}
      <section aria-labelledby="invitations-title" className="panel">
        <h2 id="invitations-title">Pending invitations</h2>
        {invitations.error ? <ErrorBox error={invitations.error} retry={invitations.reload} /> : null}
        {invitations.data && !invitations.data.items.length ? <Empty>None pending.</Empty> : null}
        {invitations.data?.items.length ? (
          <div className="table-wrap">
            <table className="table" data-testid="invitations-table">
              <thead>
                <tr>
                  <th scope="col">E-mail</th>
                  <th scope="col">Role</th>
                  <th scope="col">Expires ({timeZone})</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {invitations.data.items.map((inv) => (
                  <tr key={inv.id} data-testid="invitation-row">
                    <td>{inv.email}</td>
                    <td>{inv.role}</td>
                    <td className="nowrap">{formatIsoTime(inv.expires_at, timeZone)}</td>
                    <td>
                      {manages ? (
                        <button type="button" className="button-danger" onClick={() => void withdraw(inv)}>
                          Withdraw
                        </button>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ) : null}
      </section>
    </section>
  );
}
