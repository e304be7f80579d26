/// A problem installing or removing a schedule.
package struct InstallerError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem (`SysExit` maps each to its exit code).
    package enum Kind: Sendable, Equatable {
        /// The scheduler cannot express the interval (cron's steps): a usage error.
        case unsupportedInterval
        /// A unit or crontab file could not be read or written.
        case io
        /// `crontab` or `systemctl` is missing or failed.
        case systemTool
    }

    /// What kind of problem.
    package let kind: Kind
    /// What went wrong, naming the file, program or value.
    package let message: String

    /// Creates an error.
    package init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    package var description: String { message }
}
