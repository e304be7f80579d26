import Foundation
import GRDB

/// Runs `body` again (for up to about 5 s in all) while SQLite answers SQLITE_BUSY or
/// SQLITE_LOCKED without waiting — as it does when two processes open a new file and one
/// switches it to WAL mode.
///
/// A failure that came after waiting (the connection's busy timeout ran out because another
/// process holds the lock) is thrown at once: retrying it would multiply that timeout.
package func retryingWhileBusy<T>(_ body: () throws -> T) throws -> T {
    let start = Date()
    while true {
        let attempt = Date()
        do {
            return try body()
        } catch let error as DatabaseError
            where (error.resultCode.primaryResultCode == .SQLITE_BUSY || error.resultCode.primaryResultCode == .SQLITE_LOCKED)
            && Date().timeIntervalSince(attempt) < 1 && Date().timeIntervalSince(start) < 5 {
            Thread.sleep(forTimeInterval: 0.02 + Double.random(in: 0...0.08))
        }
    }
}

/// The stamp that tells whose SQLite file this is, read as one consistent snapshot (separate
/// `PRAGMA` reads could straddle another process's migration commit).
package struct SQLiteFileStamp: Sendable, Equatable {
    /// `PRAGMA application_id`.
    package var applicationID: Int32
    /// `PRAGMA user_version`.
    package var userVersion: Int
    /// How many tables, views, indexes and triggers the file holds.
    package var schemaObjects: Int

    /// Reads the stamp of the database `db` is connected to.
    package static func read(_ db: Database) throws -> SQLiteFileStamp {
        let row = try Row.fetchOne(db, sql: """
            SELECT (SELECT application_id FROM pragma_application_id), (SELECT user_version FROM pragma_user_version),
                   (SELECT count(*) FROM sqlite_master)
            """)
        return SQLiteFileStamp(applicationID: Int32(truncatingIfNeeded: (row?[0] as Int64?) ?? 0),
                               userVersion: row?[1] ?? 0, schemaObjects: row?[2] ?? 0)
    }
}
