import ArgumentParser
import BGSyncJobs
import Foundation

/// The `bgsync` command line.
package struct BGSyncCommand: AsyncParsableCommand {
    package init() {}

    package static let configuration = CommandConfiguration(
        commandName: "bgsync",
        abstract: "Background sync of local SQLite document databases with CouchDB-compatible servers.",
        discussion: """
            Exit codes (sysexits): 0 success or nothing to do; 1 document not found or update \
            conflict; 64 usage error; 65 invalid data; 66 a file named on the command line missing or a directory, or an unknown tag; 69 server \
            unreachable; 74 local I/O error (not a bgsync database, disk full); 75 transient \
            failure, retry later; 77 permission refused; 78 invalid configuration.
            """,
        version: "0.1.0",
        subcommands: [RunCommand.self, StatusCommand.self, CancelCommand.self, ResumeCommand.self, CheckCommand.self,
                      FactoriesCommand.self, SyncCommand.self, DBCommand.self,
                      ScheduleCommand.self, UnscheduleCommand.self]
    )

    /// `bgsync` without a command: the usage on standard error, exit 64 (a usage error, not
    /// success: a script that forgot its command must notice).
    package func run() async throws {
        FileHandle.standardError.write(Data((Self.helpMessage() + "\n").utf8))
        throw ExitCode(SysExit.usage)
    }
}
