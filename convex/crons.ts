/** Scheduled jobs: resume a rollout whose tick died (after its lease ran out). */
import { cronJobs } from "convex/server";
import { internal } from "./_generated/api";

const crons = cronJobs();
crons.interval("resume stalled rollouts", { minutes: 5 }, internal.rollout.resumeStalled, {});
export default crons;
