/**
 * Scheduled jobs: resume a rollout whose tick died (after its lease ran out); close usage rows
 * whose proxy action was killed before it could finish them; refresh every machine's state and
 * health from Fly.
 */
import { cronJobs } from "convex/server";
import { internal } from "./_generated/api";

const crons = cronJobs();
crons.interval("resume stalled rollouts", { minutes: 5 }, internal.rolloutControl.resumeStalled, {});
crons.interval("close stale usage rows", { minutes: 10 }, internal.usage.closeStale, {});
crons.interval("machine health sweep", { minutes: 10 }, internal.machineHealth.sweep, {});
export default crons;
