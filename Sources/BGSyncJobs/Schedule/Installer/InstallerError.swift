/// A problem installing or removing a schedule.
public struct InstallerError: Error, Sendable, CustomStringConvertible {
    /// What kind of problem (`SysExit` maps each to its exit code).
    public enum Kind: Sendable, Equatable {
        /// The scheduler cannot express the interval (cron's steps): a usage error.
        case unsupportedInterval
        /// A unit or crontab file could not be read or written.
        case io
        /// `crontab` or `systemctl` is missing or failed.
        case systemTool
    }

    /// What kind of problem.
    public let kind: Kind
    /// What went wrong, naming the file, program or value.
    public let message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}
