// Why a run ended as it did, in words first: the exception and its message, the exit
// code, a timeout, a lost lease, a skip and its parent, a cancel and who did it; and why a
// queued run no live worker can take waits.

import { span } from "./dom.js";

/** One sentence on how a run ended (or why it waits), for tables and the run page. */
export function reasonOf(run) {
  const error = run.error;
  switch (run.state) {
    case "succeeded":
      return "Succeeded.";
    case "timed_out":
      if (error) return `Timed out: ${error.message}.`;
      return `Timed out after its limit of ${span((run.policy && run.policy.timeout) || 0)}.`;
    case "failed": {
      if (!error) return run.reason ? `Failed: ${run.reason}` : "Failed.";
      const exit = error.exit_code !== null && error.exit_code !== undefined
        ? ` (exit code ${error.exit_code})` : "";
      return `${error.type}: ${error.message}${exit}`;
    }
    case "cancelled":
      return run.reason || "Cancelled.";
    case "skipped":
      return run.reason || "Skipped: a parent did not end as required.";
    case "queued":
      // Set by the API when no live worker can take the run (its pool, task type, size).
      return run.waiting_because ? `Waiting: ${run.waiting_because}.` : run.reason || "";
    case "retrying":
      return error ? `Will retry after ${error.type}: ${error.message}` : run.reason || "Will retry.";
    default:
      return run.reason || "";
  }
}
