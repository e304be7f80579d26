import ArgumentParser
import BGSyncJobs
import Foundation
import Logging

/// What every job command shares: the environment, the state directory, logging.
struct StateOptions: ParsableArguments {
    @Option(help: "The state directory (default: $STATE_DIRECTORY, $XDG_STATE_HOME/bgsync, /var/lib/bgsync for root).")
    var stateDir: String?

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    var directory: String {
        StateDirectory.resolve(override: stateDir, environment: environment, isRoot: getuid() == 0)
    }

    func open() throws -> StateDatabase {
        try StateDatabase.open(directory: directory)
    }
}

/// `--verbose` / `--quiet`.
struct LogOptions: ParsableArguments {
    @Flag(name: .shortAndLong, help: "Log each step (info level).")
    var verbose = false
    @Flag(name: .shortAndLong, help: "Log errors only.")
    var quiet = false

    func makeLogger(environment: [String: String] = ProcessInfo.processInfo.environment, descriptor: Int32 = 2) -> Logger {
        var logger = Logger(label: "bgsync", factory: { _ in BGSyncLogHandler.standardError(environment: environment, descriptor: descriptor) })
        logger.logLevel = verbose ? .info : quiet ? .error : .warning
        return logger
    }
}
