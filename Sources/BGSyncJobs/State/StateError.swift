import Foundation

/// A problem with the state database, a lock file or a tag; the message names the file at fault.
/// Exit 74 (local I/O) for all kinds but ``Kind/invalidTag``, which is a configuration error (78)
/// when it comes from a job file and a usage error (64) from the command line, and
/// ``Kind/permission`` (77).
package struct StateError: Error, Sendable, CustomStringConvertible {
    /// The kind of problem.
    package enum Kind: String, Sendable {
        /// The file is not a bgsync state database (corrupt, foreign, or from a newer bgsync).
        /// It is left untouched: history is never silently reset.
        case notAStateDatabase
        /// The file or directory cannot be created, read or written.
        case io
        /// This user may not create, read or write the state directory or a lock file. Exit 77.
        case permission
        /// Another process kept the database locked for longer than the busy timeout.
        case busy
        /// A tag that cannot name a lock file.
        case invalidTag
        /// A run id that the database does not know.
        case unknownRun
    }

    /// The kind of problem.
    package let kind: Kind
    /// The whole message, starting with the path of the file at fault (if any).
    package let message: String
    /// The file at fault, if any.
    package let path: String?

    /// Creates an error.
    package init(_ kind: Kind, _ message: String, path: String? = nil) {
        self.kind = kind
        self.message = message
        self.path = path
    }

    package var description: String { message }

    /// `.permission` when `code` (an `errno`) says permission was refused, else `.io`.
    static func kind(errno code: Int32) -> Kind {
        code == EACCES || code == EPERM ? .permission : .io
    }
}
