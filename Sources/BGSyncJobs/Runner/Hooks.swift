import BGSyncStore
import Foundation
import Logging

/// Runs a job's `on_success` / `on_failure` / `on_skip` command with the run's result as JSON
/// on stdin and `BGSYNC_*` variables; a failing hook is logged and never changes the outcome.
/// A hook that does not read its stdin is fine; at its timeout its whole process group is killed;
/// cancelling the run kills it too.
enum Hooks {
    static func run(_ hooks: JobFile.Hooks, report: JobRunner.Report, environment: [String: String], logger: Logger) async {
        let command: [String]?
        switch report.outcome {
        case .synced: command = hooks.onSuccess
        case .skipped: command = hooks.onSkip
        case .failed, .interrupted, .refused: command = hooks.onFailure
        }
        guard let command else { return }
        var env = environment
        env["BGSYNC_TAG"] = report.tag
        env["BGSYNC_OUTCOME"] = report.outcome.rawValue
        env["BGSYNC_EXIT_CODE"] = String(report.exitCode)
        env["BGSYNC_REASON"] = report.reason ?? ""
        do {
            let outcome = try await ChildProcess.run(command, input: Array(report.json.serialized.utf8), environment: env,
                                                     timeout: hooks.timeout, maxOutput: 64 << 10)
            if !outcome.succeeded {
                logger.warning("hook failed", metadata: [
                    "hook": "\(command[0])", "status": "\(outcome.ending(timeout: hooks.timeout))", "stderr": "\(outcome.stderrTail(300))"])
            }
        } catch is CancellationError {
            logger.warning("hook stopped: the run was cancelled", metadata: ["hook": "\(command[0])"])
        } catch {
            logger.warning("hook could not run", metadata: ["hook": "\(command.first ?? "")", "error": "\(error)"])
        }
    }
}
