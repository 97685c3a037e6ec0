import { useState } from "react";
import { schedulesPause, schedulesResume, type FireTime, type SchedulePublic } from "../api/generated";
import { errorMessage } from "./format";
import { Ago } from "./ui";

/** "2026-11-23 09:00 +01:00": a fire time as the schedule's zone reads it (the UTC instant in the tooltip). */
export function localTime(time: FireTime): string {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(?::\d{2}(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.exec(time.local);
  if (!match) return time.local;
  return `${match[1]} ${match[2]} ${match[3] === "Z" ? "+00:00" : match[3]}`;
}

/** A publication's schedules: cron, zone, misfire policy, latest firing, next fire times; pause and resume. */
export function ScheduleList({ projectId, schedules, onChanged }: {
  projectId: string;
  schedules: SchedulePublic[];
  onChanged: () => Promise<void>;
}) {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  async function toggle(schedule: SchedulePublic) {
    setBusy(schedule.id);
    setError(null);
    try {
      const ids = { project_id: projectId, schedule_id: schedule.id };
      await (schedule.paused ? schedulesResume(ids) : schedulesPause(ids));
      await onChanged();
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  }
  return (
    <ul className="scr-routes" aria-label="Schedules">
      {error && <li className="error" role="alert">{error}</li>}
      {schedules.map((schedule) => (
        <li key={schedule.id} data-testid="schedule" data-schedule-id={schedule.id} data-paused={schedule.paused}>
          <span className="scr-method">CRON</span>
          <div className="scr-route-urls">
            <span>
              <code>{schedule.cron}</code> <span className="muted small">in {schedule.timezone}</span>{" "}
              {schedule.paused
                ? <span className="scr-badge" data-testid="schedule-state">paused</span>
                : <span className="scr-badge ok" data-testid="schedule-state">active</span>}{" "}
              <button onClick={() => void toggle(schedule)} disabled={busy === schedule.id}
                aria-label={`${schedule.paused ? "Resume" : "Pause"} schedule ${schedule.node_id}`}>
                {schedule.paused ? "Resume" : "Pause"}
              </button>
            </span>
            {schedule.error && <span className="error small">{schedule.error}</span>}
            <span className="muted small" data-testid="schedule-next">
              {schedule.paused ? "would fire next" : "next"}:{" "}
              {schedule.next_fire_times.map((t, i) => (
                <span key={t.utc}>{i > 0 && ", "}<time dateTime={t.utc} title={`${t.utc} UTC`}>{localTime(t)}</time></span>
              ))}
            </span>
            <span className="muted small">
              {schedule.last_fired_at
                ? <>last fired for {localTime(schedule.last_fired_at)} (<Ago iso={schedule.last_fired_at.utc} />)</>
                : "not fired yet"}
              {" · "}missed firings: {schedule.misfire === "skip" ? "skipped" : `caught up (at most ${schedule.catch_up_max})`}
            </span>
          </div>
          <span className="muted small">node <code>{schedule.node_id}</code></span>
        </li>
      ))}
    </ul>
  );
}
